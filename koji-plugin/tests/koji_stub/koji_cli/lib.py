"""Stand-in for koji_cli.lib: tests replace these."""


def activate_session(session, options):
    session.login()


def watch_tasks(session, tasklist, quiet=False, poll_interval=None, ki_handler=None, topurl=None):
    return 0


def _running_in_bg():
    return False
