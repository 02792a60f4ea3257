"""Runs one task the way kojid's task process does (koji/daemon.py TaskManager.runTask): with the
subsession kojid made for it, the handler the builder plugin registers for the task's method,
and the result closing the task (host.closeTask) or the fault failing it (host.failTask).

python3 run_handler.py HUB_URL SESSION_ID SESSION_KEY TASK_ID TOPURL TOPDIR WORKDIR

Prints the result as JSON, or `ERROR <class>: <message>` and exits 1. Used by kojid.py."""

import json
import os
import sys
import traceback
import xmlrpc.client
from types import SimpleNamespace

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from util import load_plugin  # noqa: E402

import koji  # noqa: E402


def handler_class(plugin, method):
    """kojid's registerHandler: koji.tasks' own handlers (waitrepo), then every BaseTaskHandler
    class of the plugin, the last one naming the method."""
    found = None
    for value in list(vars(koji.tasks).values()) + list(vars(plugin).values()):
        if isinstance(value, type) and issubclass(value, koji.tasks.BaseTaskHandler) and method in getattr(value, 'Methods', []):
            found = value
    return found


def main(hub_url, session_id, session_key, task_id, topurl, topdir, workdir):
    import koji.tasks  # noqa: F401
    builder = load_plugin('builder')
    session = koji.ClientSession(hub_url)
    session.sinfo = {'session-id': int(session_id), 'session-key': session_key}
    session.logged_in = True
    task_id = int(task_id)
    info = session.getTaskInfo(task_id, request=True)
    cls = handler_class(builder, info['method'])
    if cls is None:
        print('ERROR RefuseTask: no handler for method %s' % info['method'], flush=True)
        session.host.failTask(task_id, xmlrpc.client.dumps(xmlrpc.client.Fault(1000, 'no handler for method %s' % info['method'])))
        return 1
    koji.pathinfo.topdir = topdir  # kojid: koji.pathinfo = koji.PathInfo(topdir=options.topdir)
    options = SimpleNamespace(topurl=topurl, topdir=topdir, workdir=workdir, server=hub_url)
    handler = cls(task_id, info['method'], info['request'], session, options)
    try:
        result = handler.run()
    except Exception as e:
        traceback.print_exc()
        code = getattr(e, 'faultCode', 1)
        text = str(e) if isinstance(e, koji.GenericError) else traceback.format_exc()
        print('ERROR %s: %s' % (type(e).__name__, e), flush=True)
        try:
            session.host.failTask(task_id, xmlrpc.client.dumps(xmlrpc.client.Fault(code, text)))
        except Exception as f:
            print('could not fail task %s: %s' % (task_id, f), flush=True)
        return 1
    except BaseException as e:
        # kojid reports nothing for these (KeyboardInterrupt, SystemExit, the plugin's TaskInterrupted):
        # the task was canceled, or kojid is stopping
        print('ERROR %s: %s' % (type(e).__name__, e), flush=True)
        return 1
    session.host.closeTask(task_id, xmlrpc.client.dumps((result,), methodresponse=1, allow_none=1))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main(*sys.argv[1:]))
