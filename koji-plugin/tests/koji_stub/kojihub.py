"""Stand-in for the kojihub module: the functions the hub plugin calls, as no-ops or errors that
the tests replace (mock.patch) with what each case needs."""

import koji

calls = []


def make_task(method, arglist, **opts):
    calls.append((method, arglist, opts))
    return len(calls)


def convert_value(value, cast=None, message=None, none_allowed=False, check_only=False):
    """kojihub.convert_value: the check koji's calls make on their arguments."""
    if value is None and none_allowed:
        return None
    if cast is str and not isinstance(value, str):
        raise koji.ParameterError("Invalid type for value '%s': %s, expected type %s" % (value, type(value), cast))
    if cast is int:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise koji.ParameterError("Invalid type for value '%s': %s, expected type %s" % (value, type(value), cast))
        return int(value)
    return value if not check_only else None


def _unset(name):
    def fn(*args, **kwargs):
        raise AssertionError('kojihub.%s called without a test double' % name)
    fn.__name__ = name
    return fn


get_build_target = _unset('get_build_target')
get_tag = _unset('get_tag')
readTaggedBuilds = _unset('readTaggedBuilds')
get_build = _unset('get_build')
get_image_build = _unset('get_image_build')
list_archives = _unset('list_archives')
list_cgs = _unset('list_cgs')
get_user = _unset('get_user')
Host = _unset('Host')
Task = _unset('Task')
