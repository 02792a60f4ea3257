"""End to end: the hub plugin makes the task (osbuildImage, imageBuilderBuild, image), a kojid
(kojid.py: host session, task processes with subsessions, cancel by signals) runs the builder
plugin's handlers against a real `kiln serve` (Postgres, workers, osbuild stand-in) and the dev
hub (Koji stand-in with Kiln's hub plugin call), and the results are what Pungi, `koji
download-task` and `getImageBuild` read: builds COMPLETE and tagged, images in the task
directories (scratch ones under scratch/), failable arches, and cancels ending the compose.

Started by test/helpers/kiln-for-python.ts (node --import tsx), which prints one JSON line.
"""

import base64
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
from unittest import mock

from .util import REPO_ROOT, load_plugin

import koji  # noqa: E402

ENV = None  # the helper's JSON line
SESSIONS = []
HELPER = None
TMP = None
KOJID = None
builder = None
hub = None


def _read_line(stream, timeout):
    q = queue.Queue()
    threading.Thread(target=lambda: q.put(stream.readline()), daemon=True).start()
    try:
        return q.get(timeout=timeout)
    except queue.Empty:
        return None


def setUpModule():
    global ENV, HELPER, TMP, KOJID, builder, hub
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
                'timeout = 120\nretries = 2\nimage_build = true\n[koji]\nserver = %s\n' % (
                    ENV['kiln_url'], ENV['kiln_token'], ENV['kiln_hub_url']))
    hubconf = os.path.join(TMP.name, 'hub.conf')
    with open(hubconf, 'w') as f:
        f.write('[kiln]\nurl = %s\ntoken = %s\ntimeout = 10\nhub_url = %s\nimage_build = true\n' % (
            ENV['kiln_url'], ENV['kiln_token'], ENV['kiln_hub_url']))
    os.environ['KILN_BUILDER_CONF'] = conf
    os.environ['KILN_HUB_PLUGIN_CONF'] = hubconf
    builder = load_plugin('builder')
    hub = load_plugin('hub')
    logdir = os.path.join(TMP.name, 'kojid')
    os.makedirs(logdir)
    from .kojid import Kojid
    user, password = ENV['users']['builder']
    KOJID = Kojid(ENV['hub_url'], user, password, ENV['topurl'], ENV['hub_dir'], logdir,
                  env={'KOJI_STUB_WAITREPO_PAUSE': '0.2'}).start()


def tearDownModule():
    if KOJID is not None:
        KOJID.stop()
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


def hub_call(admin, fn, *args, **kwargs):
    """Calls a hub plugin function as the hub would, with kojihub's functions answered by the dev hub."""
    hub.context.session = HubContextSession()
    patches = {
        'make_task': lambda method, arglist, **opts: admin.makeTask(method, arglist, **opts),
        'get_build_target': lambda info, strict=False: admin.getBuildTarget(info, strict=strict),
        'get_tag': lambda info, strict=False: admin.getTag(info, strict=strict),
        'readTaggedBuilds': lambda tag, inherit=False, latest=False, package=None: admin.getLatestBuilds(tag, package=package),
    }
    with mock.patch.multiple(hub.kojihub, **patches), mock.patch.object(koji.pathinfo, 'topdir', ENV['hub_dir']):
        return fn(*args, **kwargs)


def task_dir(task_id):
    return os.path.join(ENV['work_dir'], 'tasks', str(task_id % 10000), str(task_id))


def wait_for(what, fn, timeout=90):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError('timed out waiting for %s' % what)
        time.sleep(0.1)


def finished(admin, task_id, timeout=120):
    """The task once it ended (CLOSED, FAILED or CANCELED)."""
    def done():
        info = admin.getTaskInfo(task_id)
        return info if info['state'] in (koji.TASK_STATES['CLOSED'], koji.TASK_STATES['FAILED'], koji.TASK_STATES['CANCELED']) else None
    try:
        return wait_for('task %s to end' % task_id, done, timeout)
    except AssertionError:
        raise AssertionError('task %s did not end; kojid log:\n%s' % (task_id, KOJID.log(task_id)[-3000:]))


def state(info):
    return koji.TASK_STATES[info['state']]


def get_image_paths(admin, task_id, callback=None):
    """Pungi's KojiWrapper.get_image_paths (pungi/wrappers/kojiwrapper.py), against the dev hub."""
    pathinfo = koji.PathInfo(topdir=ENV['hub_dir'])
    result = {}
    for child in admin.getTaskChildren(task_id, request=True):
        if child['method'] not in ['createImage', 'createLiveMedia', 'createAppliance', 'createKiwiImage', 'imageBuilderBuildArch']:
            continue
        if child['state'] != koji.TASK_STATES['CLOSED']:
            if callback:
                callback(child['arch'])
            continue
        is_scratch = child['request'][-1].get('scratch', False)
        r = admin.getTaskResult(child['id'])
        if is_scratch:
            topdir = os.path.join(pathinfo.work(), pathinfo.taskrelpath(child['id']))
        else:
            build = admin.getImageBuild('%(name)s-%(version)s-%(release)s' % r)
            build.update(name=r['name'], version=r['version'], release=r['release'], arch=r['arch'])
            topdir = pathinfo.imagebuild(build)
        for f in r['files']:
            result.setdefault(r['arch'], []).append(os.path.join(topdir, f))
    return result


def archives_of(admin, build_id):
    return admin.listArchives(buildID=build_id)


class TestOsbuildImage(unittest.TestCase):
    def submit(self, admin, name, arches, opts, image_type='qcow2'):
        return hub_call(admin, hub.osbuildImage, name, '43', 'fedora-43', [image_type] if isinstance(image_type, str) else image_type,
                        ENV['target'], arches, opts=opts)

    def test_1_build_complete_and_tagged(self):
        admin = session('admin')
        task_id = self.submit(admin, 'fedora-guest', ['x86_64'], {'repo': ['http://127.0.0.1:9/repo/$arch']})
        info = admin.getTaskInfo(task_id, request=True)
        self.assertEqual(info['method'], 'osbuildImage')
        self.assertEqual(info['request'][3], 'qcow2')  # the list form became a string
        info = finished(admin, task_id)
        self.assertEqual(state(info), 'CLOSED', KOJID.log(task_id))
        result = admin.getTaskResult(task_id)

        # the result Pungi reads
        self.assertEqual(set(result), {'composer', 'koji'})
        self.assertEqual(result['composer']['server'], ENV['kiln_url'])
        cid = result['composer']['id']
        build_id = result['koji']['build']
        build = admin.getBuild(build_id)
        self.assertEqual(build['state'], koji.BUILD_STATES['COMPLETE'])
        self.assertEqual((build['name'], build['version'], build['release']), ('fedora-guest', '43', '1'))
        self.assertEqual(build['task_id'], task_id)
        tagged = admin.listTagged('f43-candidate')
        self.assertIn(build_id, [b['build_id'] if 'build_id' in b else b['id'] for b in tagged])
        images = [a for a in archives_of(admin, build_id) if a['filename'].endswith('.qcow2')]
        self.assertEqual(len(images), 1)
        self.assertEqual(images[0]['extra']['image']['arch'], 'x86_64', "Pungi's osbuild phase reads archive.extra.image.arch")

        files = sorted(os.listdir(task_dir(task_id)))
        for name in ('compose-request.json', 'compose-status.json', 'kiln-progress.log', 'kiln-compose.json',
                     'x86_64-guest-image.manifest.json', 'x86_64-guest-image.log.json',
                     'koji-init.log.json', 'koji-import.log.json'):
            self.assertIn(name, files)
        with open(os.path.join(task_dir(task_id), 'compose-request.json')) as f:
            req = json.load(f)
        self.assertEqual(req['koji'], {'name': 'fedora-guest', 'version': '43', 'release': '1', 'task_id': task_id,
                                       'server': ENV['kiln_hub_url']})
        self.assertEqual(req['image_requests'], [{'architecture': 'x86_64', 'image_type': 'guest-image',
                                                  'repositories': [{'baseurl': 'http://127.0.0.1:9/repo/x86_64', 'rhsm': False}]}])
        with open(os.path.join(task_dir(task_id), 'kiln-progress.log')) as f:
            progress = f.read()
        self.assertIn('compose %s created' % cid, progress)
        self.assertIn('compose %s succeeded: Koji build %s' % (cid, build_id), progress)
        self.assertIn('tagged into f43-candidate', progress)

        # a second build of the same NVR gets the next release from the hub; skip_tag leaves it untagged
        before = len(admin.listTagged('f43-candidate'))
        task2 = self.submit(admin, 'fedora-guest', ['x86_64'], {'repo': ['http://127.0.0.1:9/repo/$arch'], 'skip_tag': True})
        self.assertEqual(state(finished(admin, task2)), 'CLOSED', KOJID.log(task2))
        self.assertEqual(admin.getBuild(admin.getTaskResult(task2)['koji']['build'])['release'], '2')
        self.assertEqual(len(admin.listTagged('f43-candidate')), before)

    def test_2_kiln_refusal_is_a_task_failure_with_the_reason(self):
        admin = session('admin')
        task_id = self.submit(admin, 'fedora-guest', ['x86_64'], {'repo': ['http://127.0.0.1:9/repo/$arch']},
                              image_type='no-such-type')
        self.assertEqual(state(finished(admin, task_id)), 'FAILED')
        with self.assertRaisesRegex(koji.GenericError, r'Failed to create the compose request: HTTP 400: .*no-such-type'):
            admin.getTaskResult(task_id)
        self.assertTrue(os.path.exists(os.path.join(task_dir(task_id), 'compose-request.json')))

    def test_3_scratch_with_two_image_types(self):
        admin = session('admin')
        task_id = self.submit(admin, 'fedora-guest', ['x86_64'], {'repo': ['http://127.0.0.1:9/repo/$arch'], 'scratch': True, 'release': 's1'},
                              image_type=['qcow2', 'minimal-raw'])
        self.assertEqual(state(finished(admin, task_id)), 'CLOSED', KOJID.log(task_id))
        result = admin.getTaskResult(task_id)
        self.assertEqual(result['koji']['scratch'], True)
        self.assertEqual(sorted(result['koji']['files']), [
            'fedora-guest-43-s1.x86_64.qcow2', 'fedora-guest-43-s1.x86_64.qcow2.manifest.json',
            'fedora-guest-43-s1.x86_64.raw.xz', 'fedora-guest-43-s1.x86_64.raw.xz.manifest.json'])
        self.assertEqual([b for b in admin.listBuilds() if b['task_id'] == task_id], [], 'a scratch build makes no Koji build')
        scratch = os.path.join(ENV['hub_dir'], 'scratch', 'kojiadmin', 'task_%d' % task_id)
        for name in result['koji']['files']:
            self.assertTrue(os.path.isfile(os.path.join(scratch, name)), name)
            self.assertTrue(os.path.islink(os.path.join(task_dir(task_id), name)), 'the task directory keeps a symlink')

    def test_4_cancel_on_the_hub_cancels_the_compose(self):
        """koji cancel: kojid stops the task's process (SIGINT first); the handler cancels the compose."""
        admin = session('admin')
        task_id = self.submit(admin, 'fedora-guest', ['s390x'], {'repo': ['http://127.0.0.1:9/repo/$arch'], 'skip_tag': True})
        cid = compose_of(task_id)
        admin.cancelTask(task_id)
        KOJID.stop_task(task_id)  # at once, before the handler's own check of the task
        status = wait_for('the compose to end', lambda: ended(kiln_get('/composes/%s' % cid)))
        self.assertEqual(status['status'], 'failure')
        self.assertIn('canceled', json.dumps(status))
        self.assertIn('ERROR TaskInterrupted: signal %d' % signal.SIGINT, KOJID.log(task_id), 'SIGINT reached the handler first')

    def test_5_hub_callback_cancels_the_compose_of_a_canceled_task(self):
        admin = session('admin')
        task_id = self.submit(admin, 'fedora-guest', ['s390x'], {'repo': ['http://127.0.0.1:9/repo/$arch'], 'skip_tag': True})
        cid = compose_of(task_id)
        KOJID.kill_now(task_id)  # SIGKILL: the handler gets no chance; the hub callback must do it
        self.assertFalse(kiln_get('/composes/%s' % cid)['status'] in ('success', 'failure'))
        rpc = hub.kiln_rpc(hub.read_config())
        self.assertEqual(hub.find_composes(rpc, task_id), [cid])  # the fallback when no file is readable
        with mock.patch.object(koji.pathinfo, 'topdir', ENV['hub_dir']):  # the hub reads the builder's kiln-compose.json
            hub.kiln_task_state_change('postTaskStateChange', attribute='state', old=koji.TASK_STATES['OPEN'],
                                       new=koji.TASK_STATES['CANCELED'], info={'id': task_id, 'method': 'osbuildImage'})
        status = wait_for('the compose to end', lambda: ended(kiln_get('/composes/%s' % cid)))
        self.assertEqual(status['status'], 'failure')
        self.assertIn('Koji task %s canceled' % task_id, json.dumps(status))
        self.assertEqual(hub.find_composes(rpc, task_id), [])
        rpc('close')()
        admin.cancelTask(task_id)

    def test_6_canceled_task_seen_by_the_handler_cancels_the_compose(self):
        """A kojid that has not stopped the process yet: the handler sees the task canceled itself."""
        admin = session('admin')
        KOJID.keep_running = True
        try:
            task_id = self.submit(admin, 'fedora-guest', ['s390x'], {'repo': ['http://127.0.0.1:9/repo/$arch'], 'skip_tag': True})
            cid = compose_of(task_id)
            admin.cancelTask(task_id)
            wait_for('the handler to end', lambda: task_id in KOJID.outcome)
        finally:
            KOJID.keep_running = False
        log = KOJID.log(task_id)
        self.assertRegex(log, r'(was canceled; compose %s canceled|is CANCELED on the hub; compose %s canceled)' % (cid, cid))
        status = wait_for('the compose to end', lambda: ended(kiln_get('/composes/%s' % cid)))
        self.assertEqual(status['status'], 'failure')


def ended(status):
    return status if status['status'] in ('success', 'failure') else None


def compose_of(task_id):
    marker = os.path.join(task_dir(task_id), 'kiln-compose.json')
    wait_for('the compose of task %s to be created' % task_id, lambda: os.path.exists(marker) and os.path.getsize(marker) > 0)
    with open(marker) as f:
        return json.load(f)['id']


class TestImageBuilderBuild(unittest.TestCase):
    """koji-image-builder's imageBuilderBuild: what Pungi's imagebuilder phase calls and reads."""

    def submit(self, admin, name, arches, opts, types=('minimal-raw',)):
        # Pungi passes types, name, version and opts as keyword arguments
        return hub_call(admin, hub.imageBuilderBuild, ENV['target'], arches, types=list(types), name=name, version='43', opts=opts)

    def test_1_build_for_pungi(self):
        admin = session('admin')
        task_id = self.submit(admin, 'Fedora-Minimal', ['x86_64'], {'repos': ['http://127.0.0.1:9/repo/$basearch'], 'seed': 20261123, 'release': '20261201.0'})
        info = finished(admin, task_id)
        self.assertEqual(state(info), 'CLOSED', KOJID.log(task_id))
        self.assertEqual(admin.getTaskResult(task_id), 'image build results in: %s' % koji.PathInfo(topdir=ENV['hub_dir']).imagebuild(
            {'name': 'Fedora-Minimal', 'version': '43', 'release': '20261201.0'}))
        children = admin.getTaskChildren(task_id, request=True)
        arch_tasks = [c for c in children if c['method'] == 'imageBuilderBuildArch']
        self.assertEqual([(c['arch'], c['label'], state(c)) for c in arch_tasks], [('x86_64', 'x86_64', 'CLOSED')])
        child = arch_tasks[0]
        self.assertEqual(child['request'][:4], ['Fedora-Minimal', '43', '20261201.0', 'x86_64'])
        self.assertEqual(child['request'][-1]['scratch'], False)
        r = admin.getTaskResult(child['id'])
        self.assertEqual(set(r), {'task_id', 'name', 'version', 'release', 'arch', 'files', 'logs', 'rpmlist'})
        self.assertEqual((r['task_id'], r['name'], r['release'], r['arch']), (child['id'], 'Fedora-Minimal', '20261201.0', 'x86_64'))
        self.assertEqual(sorted(r['files']), ['Fedora-Minimal-43-20261201.0.x86_64.raw.xz', 'Fedora-Minimal-43-20261201.0.x86_64.raw.xz.manifest.json'])

        build = admin.getBuild('Fedora-Minimal-43-20261201.0')
        self.assertEqual((build['state'], build['task_id'], build['owner_name']), (koji.BUILD_STATES['COMPLETE'], task_id, 'kojiadmin'))
        self.assertEqual(admin.getImageBuild('Fedora-Minimal-43-20261201.0'), {'build_id': build['id']})
        self.assertIn(build['id'], [b['build_id'] for b in admin.listTagged('f43-candidate')])
        for a in archives_of(admin, build['id']):
            self.assertEqual(a['extra']['image']['arch'], 'x86_64', a['filename'])

        paths = get_image_paths(admin, task_id)
        self.assertEqual(sorted(os.path.basename(p) for p in paths['x86_64']), sorted(r['files']))
        for p in paths['x86_64']:
            self.assertTrue(os.path.isfile(p), p)
        # koji download-task lists the child's directory: the images are there (symlinks into the build)
        out = admin.listTaskOutput(child['id'])
        for name in r['files']:
            self.assertIn(name, out)
            self.assertEqual(os.path.realpath(os.path.join(task_dir(child['id']), name)),
                             os.path.realpath(os.path.join(koji.PathInfo(topdir=ENV['hub_dir']).imagebuild(build), name)))
        with open(os.path.join(task_dir(task_id), 'compose-request.json')) as f:
            req = json.load(f)
        self.assertEqual(req['seed'], '20261123')
        self.assertEqual(req['distribution'], 'fedora-43', 'the build tag\'s fedora-release-43 names the distro')
        self.assertEqual(req['image_requests'][0]['repositories'], [{'baseurl': 'http://127.0.0.1:9/repo/x86_64', 'rhsm': False}])
        with open(os.path.join(task_dir(child['id']), 'kiln-progress.log')) as f:
            self.assertIn('following the x86_64 images of compose', f.read())

    def test_3_stale_build_tag_repo(self):
        # kojid's getRepo: the build tag changed after its repo, longer ago than RepoLag, so the hub
        # queues a repo request and the task waits for it in a waitrepo subtask
        admin = session('admin')
        build_tag = admin.getBuildTarget(ENV['stale_target'])['build_tag_name']
        old = admin.getRepo(build_tag)
        last = admin.tagLastChangeEvent(build_tag)
        self.assertLess(old['create_event'], last)
        task_id = hub_call(admin, hub.imageBuilderBuild, ENV['stale_target'], ['x86_64'], types=['minimal-raw'], name='Fedora-Minimal',
                           version='43', opts={'repos': ['http://127.0.0.1:9/repo/$arch'], 'scratch': True})
        self.assertEqual(state(finished(admin, task_id)), 'CLOSED', KOJID.log(task_id))
        children = admin.getTaskChildren(task_id, request=True)
        waits = [c for c in children if c['method'] == 'waitrepo']
        self.assertEqual([(c['request'], state(c)) for c in waits], [([build_tag, None, [], last], 'CLOSED')])
        repo = admin.getTaskResult(waits[0]['id'])
        self.assertGreater(repo['create_event'], old['create_event'])
        self.assertGreaterEqual(repo['create_event'], last)
        self.assertEqual(admin.getTaskInfo(repo['task_id'])['method'], 'newRepo')
        arch_task = [c for c in children if c['method'] == 'imageBuilderBuildArch'][0]
        self.assertEqual(arch_task['request'][7]['id'], repo['id'], 'the arch task gets the new repo')

    def test_2_scratch(self):
        admin = session('admin')
        task_id = self.submit(admin, 'Fedora-Minimal', ['x86_64'], {'repos': ['http://127.0.0.1:9/repo/$arch'], 'scratch': True})
        self.assertEqual(state(finished(admin, task_id)), 'CLOSED', KOJID.log(task_id))
        self.assertTrue(admin.getTaskResult(task_id).startswith('Scratch image build results in: '))
        child = [c for c in admin.getTaskChildren(task_id, request=True) if c['method'] == 'imageBuilderBuildArch'][0]
        self.assertIs(child['request'][-1]['scratch'], True)
        r = admin.getTaskResult(child['id'])
        self.assertEqual(admin.getImageBuild('%(name)s-%(version)s-%(release)s' % r), None, 'no Koji build')
        paths = get_image_paths(admin, task_id)
        self.assertEqual(len(paths['x86_64']), 2)
        for p in paths['x86_64']:
            self.assertTrue(p.startswith(os.path.join(ENV['work_dir'], 'tasks')), p)
            self.assertTrue(os.path.islink(p))
            real = os.path.realpath(p)
            self.assertTrue(real.startswith(os.path.join(os.path.realpath(ENV['hub_dir']), 'scratch', 'kojiadmin', 'task_%d' % child['id'])), real)
            self.assertTrue(os.path.isfile(real))
        self.assertTrue(any(name.endswith('.osbuild.log') for name in r['logs']))

    def test_3_failable_arch_fails(self):
        """aarch64 builds fail (the stand-in); as a failable arch the build is the x86_64 image."""
        admin = session('admin')
        task_id = self.submit(admin, 'Fedora-Minimal', ['x86_64', 'aarch64'], {'repos': ['http://127.0.0.1:9/repo/$arch'], 'failable_arches': ['aarch64'], 'release': '20261201.1'})
        self.assertEqual(state(finished(admin, task_id)), 'CLOSED', KOJID.log(task_id))
        children = {c['arch']: c for c in admin.getTaskChildren(task_id) if c['method'] == 'imageBuilderBuildArch'}
        self.assertEqual({a: state(c) for a, c in children.items()}, {'x86_64': 'CLOSED', 'aarch64': 'FAILED'})
        with self.assertRaisesRegex(koji.GenericError, r'the aarch64 image failed'):
            admin.getTaskResult(children['aarch64']['id'])
        build = admin.getBuild('Fedora-Minimal-43-20261201.1')
        self.assertEqual(build['state'], koji.BUILD_STATES['COMPLETE'])
        self.assertEqual(sorted(a['extra']['image']['arch'] for a in archives_of(admin, build['id'])), ['x86_64', 'x86_64'])
        failed = []
        paths = get_image_paths(admin, task_id, callback=failed.append)
        self.assertEqual(list(paths), ['x86_64'])
        self.assertEqual(failed, ['aarch64'])

        # not failable: the build fails (and is not imported)
        task2 = self.submit(admin, 'Fedora-Minimal', ['x86_64', 'aarch64'], {'repos': ['http://127.0.0.1:9/repo/$arch'], 'release': '20261201.2'})
        self.assertEqual(state(finished(admin, task2)), 'FAILED', KOJID.log(task2))
        with self.assertRaisesRegex(koji.GenericError, r'failed'):
            admin.getTaskResult(task2)
        build2 = admin.getBuild('Fedora-Minimal-43-20261201.2')
        self.assertIn(build2['state'], (koji.BUILD_STATES['FAILED'], koji.BUILD_STATES['CANCELED']))

    def test_4_refused_at_the_hub(self):
        admin = session('admin')
        cases = [
            # bootc: image-builder's refusal of --distro with --bootc-ref, and Kiln's checks named as the caller named them
            ({'bootc': {'ref': 'quay.io/x/y:1'}, 'distro': 'fedora-43'}, ['qcow2'],
             r'^opts\.distro: cannot be given with opts\.bootc \(image-builder: cannot use --distro with --bootc-ref\)'),
            ({'bootc': {'build-ref': 'quay.io/x/y:1'}}, ['qcow2'], r'^Kiln cannot build this: opts\.bootc\.ref: is required$'),
            ({'bootc': {'ref': 'quay.io/x/y:1'}}, ['minimal-raw'], r'^Kiln cannot build this: types\[0\]: "minimal-raw" is not a bootc image type; bootc images: .*qcow2'),
            ({'bootc': {'ref': 'Quay.io/X'}}, ['qcow2'], r'^Kiln cannot build this: opts\.bootc\.ref: "Quay\.io/X" .*lowercase'),
            ({'bootc': {'ref': 'quay.io/x/y:1', 'default-fs': 'f2fs'}}, ['qcow2'], r'^Kiln cannot build this: opts\.bootc\.default-fs: '),
            # the installer's payload: required for bootc-installer, refused for a disk
            ({'bootc': {'ref': 'quay.io/x/y:1'}}, ['bootc-installer'], r'^Kiln cannot build this: opts\.bootc\.installer-payload-ref: is required'),
            ({'bootc': {'ref': 'quay.io/x/y:1', 'installer-payload-ref': 'quay.io/x/z:1'}}, ['qcow2'],
             r'^Kiln cannot build this: opts\.bootc\.installer-payload-ref: applies to bootc ISO image types'),
            ({'bootc': {'ref': 'quay.io/x/y:1'}, 'blueprint': {'distro': 'fedora-43'}}, ['qcow2'],
             r"^Kiln cannot build this: blueprint\.distro: is \"fedora-43\", but these are bootc images, whose distribution is their container's"),
            ({'bootc': {'ref': 'quay.io/x/y:1', 'bogus': 'x'}}, ['qcow2'], r"^opts\.bootc: Additional properties are not allowed \('bogus' was unexpected\)"),
            ({'blueprint': {'customizations': {'installer': {'unattended': True}}}}, ['minimal-raw'],
             r'^Kiln cannot build this: blueprint\.customizations\.installer\.unattended: is not supported by image type minimal-raw'),
            ({'preview': True}, ['minimal-raw'], r'preview: fedora-43 is not a preview release'),
            ({}, ['no-such-type'], r'no-such-type'),
            ({'data_url': 'x'}, ['minimal-raw'], r"^opts: Additional properties are not allowed \('data_url' was unexpected\)"),
            ({}, ['minimal-raw', 'generic-qcow2'], r'^types: .* is too long'),
        ]
        before = admin.getTaskInfo(1) and len(admin.getTaskChildren(1))
        for opts, types, reason in cases:
            with self.subTest(opts=opts, types=types):
                with self.assertRaisesRegex(koji.ParameterError, reason):
                    self.submit(admin, 'Fedora-Minimal', ['x86_64'], opts, types=types)
        self.assertEqual(admin.getTaskInfo(1) and len(admin.getTaskChildren(1)), before)

    def test_6_bootc(self):
        """koji image-builder-build --bootc-ref: a disk image of a bootable container (Kiln reads it from
        the registry and pins it), no distribution, a COMPLETE build tagged as any other."""
        admin = session('admin')
        bootc = {'ref': ENV['bootc_ref'], 'default-fs': 'ext4', 'installer-payload-ref': ''}
        task_id = self.submit(admin, 'Fedora-bootc', ['x86_64'], {'bootc': bootc, 'release': '1'}, types=('qcow2',))
        self.assertEqual(state(finished(admin, task_id)), 'CLOSED', KOJID.log(task_id))
        with open(os.path.join(task_dir(task_id), 'compose-request.json')) as f:
            req = json.load(f)
        self.assertNotIn('distribution', req, "a bootc image's distribution is its container's")
        self.assertEqual([(i['architecture'], i['image_type'], i['bootc']) for i in req['image_requests']],
                         [('x86_64', 'qcow2', {'ref': ENV['bootc_ref'], 'default-fs': 'ext4'})], 'the options set, as koji-image-builder passes them')
        build = admin.getBuild('Fedora-bootc-43-1')
        self.assertEqual((build['state'], build['task_id']), (koji.BUILD_STATES['COMPLETE'], task_id))
        self.assertIn(build['id'], [b['build_id'] for b in admin.listTagged('f43-candidate')])
        child = [c for c in admin.getTaskChildren(task_id, request=True) if c['method'] == 'imageBuilderBuildArch'][0]
        r = admin.getTaskResult(child['id'])
        self.assertEqual(sorted(r['files']), ['Fedora-bootc-43-1.x86_64.qcow2', 'Fedora-bootc-43-1.x86_64.qcow2.manifest.json'])
        images = [a for a in archives_of(admin, build['id']) if a['filename'].endswith('.qcow2')]
        self.assertEqual([(a['type_name'], a['extra']['image']['arch']) for a in images], [('qcow2', 'x86_64')])
        paths = get_image_paths(admin, task_id)
        self.assertEqual(sorted(os.path.basename(p) for p in paths['x86_64']), sorted(r['files']))
        # the manifest built: bootc install from the container pinned by digest, ext4 as asked
        with open(os.path.join(task_dir(task_id), 'x86_64-qcow2.manifest.json')) as f:
            manifest = json.load(f)
        sources = manifest['sources']['org.osbuild.skopeo']['items']
        self.assertEqual([i['image']['name'] for i in sources.values()], [ENV['bootc_ref'].rsplit(':', 1)[0]])
        self.assertTrue(all(i['image']['digest'].startswith('sha256:') for i in sources.values()))
        stages = [st for p in manifest['pipelines'] for st in p['stages']]
        self.assertIn('org.osbuild.bootc.install-to-filesystem', [st['type'] for st in stages])
        self.assertIn('org.osbuild.mkfs.ext4', [st['type'] for st in stages])

    def test_7_bootc_installer(self):
        """koji image-builder-build --bootc-ref <installer> --bootc-installer-payload-ref <container>
        --type bootc-installer: an anaconda ISO of the installer container holding the payload, an
        `iso` archive of a COMPLETE build."""
        admin = session('admin')
        bootc = {'ref': ENV['bootc_installer_ref'], 'installer-payload-ref': ENV['bootc_ref'], 'default-fs': '', 'build-ref': ''}
        task_id = self.submit(admin, 'Fedora-bootc-installer', ['x86_64'], {'bootc': bootc, 'release': '1'}, types=('bootc-installer',))
        self.assertEqual(state(finished(admin, task_id)), 'CLOSED', KOJID.log(task_id))
        with open(os.path.join(task_dir(task_id), 'compose-request.json')) as f:
            req = json.load(f)
        self.assertEqual([(i['image_type'], i['bootc']) for i in req['image_requests']],
                         [('bootc-installer', {'ref': ENV['bootc_installer_ref'], 'installer-payload-ref': ENV['bootc_ref']})])
        build = admin.getBuild('Fedora-bootc-installer-43-1')
        self.assertEqual((build['state'], build['task_id']), (koji.BUILD_STATES['COMPLETE'], task_id))
        child = [c for c in admin.getTaskChildren(task_id, request=True) if c['method'] == 'imageBuilderBuildArch'][0]
        r = admin.getTaskResult(child['id'])
        self.assertEqual(sorted(r['files']), ['Fedora-bootc-installer-43-1.x86_64.iso', 'Fedora-bootc-installer-43-1.x86_64.iso.manifest.json'])
        images = [a for a in archives_of(admin, build['id']) if a['filename'].endswith('.iso')]
        self.assertEqual([(a['type_name'], a['extra']['image']['arch']) for a in images], [('iso', 'x86_64')])
        # both containers pinned: the installer deployed as build root and anaconda's tree, the payload copied into the ISO
        with open(os.path.join(task_dir(task_id), 'x86_64-bootc-installer.manifest.json')) as f:
            manifest = json.load(f)
        names = sorted(i['image']['name'] for i in manifest['sources']['org.osbuild.skopeo']['items'].values())
        self.assertEqual(names, sorted(ref.rsplit(':', 1)[0] for ref in (ENV['bootc_ref'], ENV['bootc_installer_ref'])))
        stages = {p['name']: [st['type'] for st in p['stages']] for p in manifest['pipelines']}
        self.assertIn('org.osbuild.skopeo', stages['bootiso-tree'])
        self.assertEqual(stages['anaconda-tree'][0], 'org.osbuild.container-deploy')

    def test_5_cancel_the_parent_cancels_the_compose(self):
        admin = session('admin')
        task_id = self.submit(admin, 'Fedora-Minimal', ['s390x'], {'repos': ['http://127.0.0.1:9/repo/$arch'], 'scratch': True},
                              types=('generic-qcow2',))
        cid = compose_of(task_id)
        wait_for('the arch subtask to run', lambda: [c for c in admin.getTaskChildren(task_id) if state(c) == 'OPEN'])
        admin.cancelTask(task_id)
        status = wait_for('the compose to end', lambda: ended(kiln_get('/composes/%s' % cid)))
        self.assertEqual(status['status'], 'failure')
        self.assertIn('canceled', status['reason'])
        self.assertEqual([state(c) for c in admin.getTaskChildren(task_id)], ['CANCELED'])


KICKSTART = """# a kickstart for koji image-build
selinux --permissive
timezone Etc/UTC --utc
rootpw --lock
user --name=cloud --groups=wheel
services --enabled=sshd
bootloader --append="console=ttyS0"
url --url=http://127.0.0.1:9/os
%packages
kernel-core
vim-minimal
%end
%post
echo done
%end
"""


class TestImageBuild(unittest.TestCase):
    """koji image-build (buildImageOz, tasks image + createImage): what Pungi's image_build phase reads."""

    def upload_kickstart(self, admin, text):
        path = os.path.join(TMP.name, 'cloud.ks')
        with open(path, 'w') as f:
            f.write(text)
        serverdir = 'cli-image/%d.test' % int(time.time() * 1000)
        admin.uploadWrapper(path, serverdir)
        return 'work/%s/cloud.ks' % serverdir

    def submit(self, admin, arches, opts):
        return hub_call(admin, hub.buildImageOz, 'Fedora-Cloud', '43', arches, ENV['target'], 'http://127.0.0.1:9/os/$arch', opts=opts)

    def test_1_formats_and_kickstart(self):
        admin = session('admin')
        ks = self.upload_kickstart(admin, KICKSTART)
        task_id = self.submit(admin, ['x86_64'], {'kickstart': ks, 'distro': 'Fedora-43', 'format': ['qcow2', 'vsphere-ova'],
                                                  'disk_size': '8', 'release': '1', 'optional_arches': ''})
        self.assertEqual(state(finished(admin, task_id)), 'CLOSED', KOJID.log(task_id))
        child = [c for c in admin.getTaskChildren(task_id, request=True) if c['method'] == 'createImage'][0]
        self.assertEqual(child['request'][7], 'http://127.0.0.1:9/os/x86_64', 'the install tree with $arch replaced')
        r = admin.getTaskResult(child['id'])
        self.assertEqual(sorted(r['files']), ['Fedora-Cloud-43-1.x86_64.qcow2', 'Fedora-Cloud-43-1.x86_64.qcow2.manifest.json',
                                              'Fedora-Cloud-43-1.x86_64.vsphere.ova', 'Fedora-Cloud-43-1.x86_64.vsphere.ova.manifest.json'])
        # Pungi's image_build phase: for each requested format, the first EXTENSIONS suffix the path ends with
        extensions = {'qcow2': ['qcow2'], 'vsphere-ova': ['vsphere.ova']}
        found = {}
        for arch, paths in get_image_paths(admin, task_id).items():
            for p in paths:
                for fmt in ('qcow2', 'vsphere-ova'):
                    if any(p.endswith(suffix) for suffix in extensions[fmt]):
                        found[fmt] = p
        self.assertEqual(sorted(found), ['qcow2', 'vsphere-ova'])
        for p in found.values():
            self.assertTrue(os.path.isfile(os.path.realpath(p)), p)
        with open(os.path.join(task_dir(task_id), 'compose-request.json')) as f:
            req = json.load(f)
        self.assertEqual(req['distribution'], 'fedora-43')
        self.assertEqual(req['blueprint'], {
            'name': 'kickstart', 'packages': [{'name': 'kernel-core'}, {'name': 'vim-minimal'}],
            'customizations': {'kernel': {'append': 'console=ttyS0'}, 'user': [{'name': 'cloud', 'groups': ['wheel']}],
                               'timezone': {'timezone': 'Etc/UTC'}, 'services': {'enabled': ['sshd']}}})
        self.assertEqual([(i['image_type'], i['filename_suffix'], i['size']) for i in req['image_requests']],
                         [('generic-qcow2', '.qcow2', 8 * 1024 ** 3), ('generic-ova', '.vsphere.ova', 8 * 1024 ** 3)])
        self.assertEqual(req['image_requests'][0]['repositories'][0]['baseurl'], 'http://127.0.0.1:9/os/x86_64')
        with open(os.path.join(task_dir(task_id), 'kiln-kickstart.log')) as f:
            log = f.read()
        self.assertRegex(log, r'NOT APPLIED line +2: selinux --permissive')
        self.assertRegex(log, r'NOT APPLIED line +13: %post')
        self.assertRegex(log, r'ignored +line +8: url')
        self.assertTrue(os.path.isfile(os.path.join(task_dir(task_id), 'cloud.ks')), 'the kickstart is attached, as Oz does')

    def test_2_refused_at_the_hub(self):
        admin = session('admin')
        ks = self.upload_kickstart(admin, KICKSTART)
        with self.assertRaisesRegex(koji.ParameterError, r'^opts\.format: vagrant-hyperv has no equivalent image type in Kiln'):
            self.submit(admin, ['x86_64'], {'kickstart': ks, 'distro': 'Fedora-43', 'format': ['vagrant-hyperv']})
        with self.assertRaisesRegex(koji.ParameterError, r"^opts\.format: 'bogus' is not a koji image-build format"):
            self.submit(admin, ['x86_64'], {'kickstart': ks, 'distro': 'Fedora-43', 'format': ['bogus']})
        with self.assertRaisesRegex(koji.ParameterError, r'unsupported.*rhel-5'):
            self.submit(admin, ['x86_64'], {'kickstart': ks, 'distro': 'RHEL-5', 'format': ['qcow2']})
        read = hub.read_config
        with mock.patch.object(hub, 'read_config', side_effect=lambda path=None: dict(read(path), strict_kickstarts=True)):
            with self.assertRaisesRegex(koji.ParameterError, r'(?s)strict mode: .*line 2: selinux --permissive .*line 13: %post'):
                self.submit(admin, ['x86_64'], {'kickstart': ks, 'distro': 'Fedora-43', 'format': ['qcow2']})


if __name__ == '__main__':
    unittest.main()
