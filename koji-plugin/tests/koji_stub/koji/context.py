"""Stand-in for koji.context: a thread-local-ish object the hub fills per call."""


class _Context(object):
    pass


context = _Context()
