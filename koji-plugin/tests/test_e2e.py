"""End to end: the hub plugin creates the task, the builder plugin's handler runs it against a
real `kiln serve` (Postgres, workers, osbuild stand-in) and the dev hub (Koji stand-in), and the
build ends COMPLETE and tagged; cancel paths (SIGTERM to the handler, the hub callback) cancel
the compose in Kiln.

Started by test/helpers/kiln-for-python.ts (node --import tsx), which prints one JSON line.
"""

import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request
from types import SimpleNamespace

from .util import REPO_ROOT, HERE, load_plugin

import koji  # noqa: E402

builder = load_plugin('builder')
hub = load_plugin('hub')

ENV = None  # the helper's JSON line
SESSIONS = []
HELPER = None
TMP = None


def _read_line(stream, timeout):
    q = queue.Queue()
    threading.Thread(target=lambda: q.put(stream.readline()), daemon=True).start()
    try:
        return q.get(timeout=timeout)
    except queue.Empty:
        return None


def setUpModule():
    global ENV, HELPER, TMP
    TMP = tempfile.TemporaryDirectory(prefix='kiln-plugin-e2e-')
    stderr = open(os.path.join(TMP.name, 'helper.err'), 'w')
    HELPER = subprocess.Popen(
        [os.environ.get('NODE', 'node'), '--import', 'tsx', 'test/helpers/kiln-for-python.ts'],
        cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True)
    stderr.close()
    line = _read_line(HELPER.stdout, 90)
    if not line:
        HELPER.kill()
        HELPER.wait()
        with open(os.path.join(TMP.name, 'helper.err')) as f:
            raise RuntimeError('kiln-for-python did not start:\n' + f.read()[-3000:])
    ENV = json.loads(line)
    conf = os.path.join(TMP.name, 'builder.conf')
    with open(conf, 'w') as f:
        f.write('[kiln]\nurl = %s\ntoken = %s\npoll_interval = 0.2\ncancel_check_interval = 0.5\n'
                'timeout = 120\nretries = 2\n[koji]\nserver = %s\n' % (ENV['kiln_url'], ENV['kiln_token'], ENV['kiln_hub_url']))
    hubconf = os.path.join(TMP.name, 'hub.conf')
    with open(hubconf, 'w') as f:
        f.write('[kiln]\nurl = %s\ntoken = %s\ntimeout = 10\n' % (ENV['kiln_url'], ENV['kiln_token']))
    os.environ['KILN_BUILDER_CONF'] = conf
    os.environ['KILN_HUB_PLUGIN_CONF'] = hubconf


def tearDownModule():
    for s in SESSIONS:
        s.close()
    if HELPER is not None:
        try:
            HELPER.stdin.close()  # the helper stops everything when its stdin closes
            HELPER.wait(timeout=30)
            HELPER.stdout.close()
        except Exception:
            HELPER.kill()
            HELPER.wait()
    os.environ.pop('KILN_BUILDER_CONF', None)
    os.environ.pop('KILN_HUB_PLUGIN_CONF', None)
    if TMP is not None:
        TMP.cleanup()


def session(who):
    user, password = ENV['users'][who]
    s = koji.ClientSession(ENV['hub_url'], {'user': user, 'password': password})
    s.login()
    SESSIONS.append(s)
    return s


def kiln_get(path):
    req = urllib.request.Request(ENV['kiln_url'] + builder.API_PATH + path,
                                 headers={'Authorization': 'Bearer %s' % ENV['kiln_token']})
    with urllib.request.urlopen(req, timeout=10) as res:
        return json.loads(res.read())


class HubContextSession(object):
    """context.session of the hub for the hub plugin: the admin's permissions."""

    def assertPerm(self, perm):
        pass

    def hasPerm(self, perm):
        return True


def submit(admin, name, arches, opts, image_type='qcow2'):
    """The hub plugin's osbuildImage, with make_task creating the task in the dev hub (its makeTask)."""
    hub.context.session = HubContextSession()
    created = []

    def make_task(method, args, **task_opts):
        created.append(task_opts)
        # the hub's makeTask is make_task for admins; kojid would then open the task
        task_id = admin.makeTask(method, args, **task_opts)
        admin.devAdmin.setTaskState(task_id, 'OPEN')
        return task_id

    orig = hub.kojihub.make_task
    hub.kojihub.make_task = make_task
    try:
        task_id = hub.osbuildImage(name, '43', 'fedora-43', [image_type], ENV['target'], arches, opts=opts)
    finally:
        hub.kojihub.make_task = orig
    assert created == [{'channel': 'image'}], created
    return task_id


def task_dir(task_id):
    return os.path.join(ENV['work_dir'], 'tasks', str(task_id % 10000), str(task_id))


def wait_for(what, fn, timeout=60):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError('timed out waiting for %s' % what)
        time.sleep(0.1)


def run_handler_process(task_id):
    user, password = ENV['users']['builder']
    return subprocess.Popen([sys.executable, os.path.join(HERE, 'run_handler.py'), ENV['hub_url'], user, password,
                             str(task_id), 'http://127.0.0.1:9/kojifiles'],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))


class TestEndToEnd(unittest.TestCase):
    def test_1_build_complete_and_tagged(self):
        admin = session('admin')
        task_id = submit(admin, 'fedora-guest', ['x86_64'], {'repo': ['http://127.0.0.1:9/repo/$arch']})
        info = admin.getTaskInfo(task_id, request=True)
        self.assertEqual(info['method'], 'osbuildImage')
        self.assertEqual(info['request'][3], 'qcow2')  # the list form became a string

        host = session('builder')
        handler = builder.KilnOSBuildImage(task_id, info['method'], info['request'], host,
                                           SimpleNamespace(topurl='http://127.0.0.1:9/kojifiles'))
        started = time.time()
        result = handler.run()
        self.assertLess(time.time() - started, 80)

        # the result Pungi reads
        self.assertEqual(set(result), {'composer', 'koji'})
        self.assertEqual(result['composer']['server'], ENV['kiln_url'])
        cid = result['composer']['id']
        build_id = result['koji']['build']
        self.assertIsInstance(build_id, int)

        build = admin.getBuild(build_id)
        self.assertEqual(build['state'], koji.BUILD_STATES['COMPLETE'])
        self.assertEqual((build['name'], build['version'], build['release']), ('fedora-guest', '43', '1'))
        self.assertEqual(build['task_id'], task_id)
        tagged = admin.listTagged('f43-candidate')
        self.assertEqual([b['build_id'] if 'build_id' in b else b['id'] for b in tagged], [build_id])
        archives = admin.listArchives(buildID=build_id)
        images = [a for a in archives if a['filename'].endswith('.qcow2')]
        self.assertEqual(len(images), 1)

        # files attached to the task
        d = task_dir(task_id)
        files = sorted(os.listdir(d))
        for name in ('compose-request.json', 'compose-status.json', 'kiln-progress.log', 'kiln-compose.json',
                     'x86_64-guest-image.manifest.json', 'x86_64-guest-image.log.json',
                     'koji-init.log.json', 'koji-import.log.json'):
            self.assertIn(name, files)
        with open(os.path.join(d, 'compose-request.json')) as f:
            req = json.load(f)
        self.assertEqual(req['koji'], {'name': 'fedora-guest', 'version': '43', 'release': '1', 'task_id': task_id,
                                       'server': ENV['kiln_hub_url']})
        self.assertEqual(req['image_requests'], [{'architecture': 'x86_64', 'image_type': 'guest-image',
                                                  'repositories': [{'baseurl': 'http://127.0.0.1:9/repo/x86_64', 'rhsm': False}]}])
        with open(os.path.join(d, 'compose-status.json')) as f:
            status = json.load(f)
        self.assertEqual(status['status'], 'success')
        self.assertEqual(status['koji_status']['build_id'], build_id)
        self.assertEqual(status['koji_task_id'], task_id)
        with open(os.path.join(d, 'kiln-progress.log')) as f:
            progress = f.read()
        self.assertIn('compose %s created' % cid, progress)
        self.assertIn('compose %s succeeded: Koji build %s' % (cid, build_id), progress)
        self.assertIn('tagged into f43-candidate', progress)
        self.assertGreaterEqual(len(progress.splitlines()), 4)
        with open(os.path.join(d, 'x86_64-guest-image.manifest.json')) as f:
            self.assertIn('pipelines', json.load(f))
        with open(os.path.join(d, 'koji-import.log.json')) as f:
            self.assertTrue(json.load(f))

        # a second build of the same NVR gets the next release from the hub; skip_tag leaves it untagged
        task2 = submit(admin, 'fedora-guest', ['x86_64'], {'repo': ['http://127.0.0.1:9/repo/$arch'], 'skip_tag': True})
        info2 = admin.getTaskInfo(task2, request=True)
        result2 = builder.KilnOSBuildImage(task2, 'osbuildImage', info2['request'], host,
                                           SimpleNamespace(topurl='http://127.0.0.1:9/kojifiles')).run()
        self.assertEqual(admin.getBuild(result2['koji']['build'])['release'], '2')
        self.assertEqual(len(admin.listTagged('f43-candidate')), 1)

    def test_2_kiln_refusal_is_a_task_failure_with_the_reason(self):
        admin = session('admin')
        task_id = submit(admin, 'fedora-guest', ['x86_64'], {'repo': ['http://127.0.0.1:9/repo/$arch']},
                         image_type='no-such-type')
        info = admin.getTaskInfo(task_id, request=True)
        handler = builder.KilnOSBuildImage(task_id, 'osbuildImage', info['request'], session('builder'),
                                           SimpleNamespace(topurl=None))
        with self.assertRaisesRegex(koji.GenericError, r'Failed to create the compose request: HTTP 400: .*no-such-type'):
            handler.run()
        self.assertTrue(os.path.exists(os.path.join(task_dir(task_id), 'compose-request.json')))

    def test_3_sigterm_cancels_the_compose(self):
        admin = session('admin')
        task_id = submit(admin, 'fedora-guest', ['aarch64'], {'repo': ['http://127.0.0.1:9/repo/$arch'], 'skip_tag': True})
        proc = run_handler_process(task_id)
        try:
            marker = os.path.join(task_dir(task_id), 'kiln-compose.json')
            wait_for('the compose to be created', lambda: os.path.exists(marker) and os.path.getsize(marker) > 0)
            with open(marker) as f:
                cid = json.load(f)['id']
            time.sleep(0.5)
            proc.send_signal(signal.SIGTERM)  # what kojid does to a canceled task's process
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual(proc.returncode, 1, out + err)
        self.assertIn('ERROR TaskInterrupted', out)
        status = wait_for('the compose to end', lambda: (lambda s: s if s['status'] in ('success', 'failure') else None)(kiln_get('/composes/%s' % cid)))
        self.assertEqual(status['status'], 'failure')
        self.assertIn('canceled', json.dumps(status))
        with open(os.path.join(task_dir(task_id), 'kiln-progress.log')) as f:
            self.assertIn('cancel requested', f.read())

    def test_4_hub_callback_cancels_the_compose_of_a_canceled_task(self):
        admin = session('admin')
        task_id = submit(admin, 'fedora-guest', ['aarch64'], {'repo': ['http://127.0.0.1:9/repo/$arch'], 'skip_tag': True})
        proc = run_handler_process(task_id)
        try:
            marker = os.path.join(task_dir(task_id), 'kiln-compose.json')
            wait_for('the compose to be created', lambda: os.path.exists(marker) and os.path.getsize(marker) > 0)
            with open(marker) as f:
                cid = json.load(f)['id']
            proc.kill()  # SIGKILL: the handler gets no chance; the hub callback must do it
            proc.communicate(timeout=30)
            self.assertEqual(kiln_get('/composes/%s' % cid)['status'] in ('success', 'failure'), False)

            rpc = hub.kiln_rpc(hub.read_config())
            self.assertEqual(hub.find_composes(rpc, task_id), [cid])  # the fallback when no file is readable
            old_topdir = koji.pathinfo.topdir
            koji.pathinfo.topdir = ENV['hub_dir']  # the hub reads the builder's kiln-compose.json
            try:
                hub.kiln_task_state_change('postTaskStateChange', attribute='state', old=koji.TASK_STATES['OPEN'],
                                           new=koji.TASK_STATES['CANCELED'], info={'id': task_id, 'method': 'osbuildImage'})
            finally:
                koji.pathinfo.topdir = old_topdir
            status = wait_for('the compose to end', lambda: (lambda s: s if s['status'] in ('success', 'failure') else None)(kiln_get('/composes/%s' % cid)))
            self.assertEqual(status['status'], 'failure')
            self.assertIn('Koji task %s canceled' % task_id, json.dumps(status))
            self.assertEqual(hub.find_composes(rpc, task_id), [])
            rpc('close')()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def test_5_canceled_task_seen_by_the_handler_cancels_the_compose(self):
        admin = session('admin')
        task_id = submit(admin, 'fedora-guest', ['aarch64'], {'repo': ['http://127.0.0.1:9/repo/$arch'], 'skip_tag': True})
        proc = run_handler_process(task_id)
        try:
            marker = os.path.join(task_dir(task_id), 'kiln-compose.json')
            wait_for('the compose to be created', lambda: os.path.exists(marker) and os.path.getsize(marker) > 0)
            with open(marker) as f:
                cid = json.load(f)['id']
            admin.devAdmin.setTaskState(task_id, 'CANCELED')
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual(proc.returncode, 1, out + err)
        self.assertIn('was canceled; compose %s canceled' % cid, out)
        status = wait_for('the compose to end', lambda: (lambda s: s if s['status'] in ('success', 'failure') else None)(kiln_get('/composes/%s' % cid)))
        self.assertEqual(status['status'], 'failure')

    def test_6_overall_timeout_cancels_the_compose(self):
        admin = session('admin')
        task_id = submit(admin, 'fedora-guest', ['aarch64'], {'repo': ['http://127.0.0.1:9/repo/$arch'], 'skip_tag': True})
        info = admin.getTaskInfo(task_id, request=True)
        handler = builder.KilnOSBuildImage(task_id, 'osbuildImage', info['request'], session('builder'),
                                           SimpleNamespace(topurl=None))
        handler.config['timeout'] = 1.5
        with self.assertRaisesRegex(koji.BuildError, r'did not finish within 1.5 s .*canceled'):
            handler.run()
        with open(os.path.join(task_dir(task_id), 'kiln-compose.json')) as f:
            cid = json.load(f)['id']
        status = wait_for('the compose to end', lambda: (lambda s: s if s['status'] in ('success', 'failure') else None)(kiln_get('/composes/%s' % cid)))
        self.assertEqual(status['status'], 'failure')
        self.assertIn('timed out', json.dumps(status))


if __name__ == '__main__':
    unittest.main()
