"""Runs the builder plugin's handler for one task, as kojid's task child process would:
python3 run_handler.py HUB_URL USER PASSWORD TASK_ID TOPURL. Prints the result as JSON, or
`ERROR <class>: <message>` and exits 1. (Used by test_e2e for the SIGTERM/cancel cases.)"""

import json
import os
import sys
from types import SimpleNamespace

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from util import load_plugin  # noqa: E402

import koji  # noqa: E402


def main(hub_url, user, password, task_id, topurl):
    builder = load_plugin('builder')
    session = koji.ClientSession(hub_url, {'user': user, 'password': password})
    session.login()
    task_id = int(task_id)
    info = session.getTaskInfo(task_id, request=True)
    handler = builder.KilnOSBuildImage(task_id, info['method'], info['request'], session, SimpleNamespace(topurl=topurl))
    try:
        result = handler.run()
    except BaseException as e:
        print('ERROR %s: %s' % (type(e).__name__, e), flush=True)
        return 1
    print(json.dumps(result), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main(*sys.argv[1:]))
