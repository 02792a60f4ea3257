"""Builder plugin units: legacy image-type names, $arch substitution and the error on other
variables, target/arch checks, the compose request built, config."""

import json
import os
import tempfile
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from unittest import mock

from .util import load_plugin

import koji  # noqa: E402

builder = load_plugin('builder')


class FakeSession(object):
    baseurl = 'http://hub.example.com/kojihub'

    def __init__(self, arches='x86_64 aarch64'):
        self.arches = arches
        self.uploads = {}

    def getBuildTarget(self, name, strict=False):
        if name != 'f43-candidate':
            if strict:
                raise koji.GenericError('No such build target: %s' % name)
            return None
        return {'id': 1, 'name': name, 'build_tag': 10, 'build_tag_name': 'f43-build', 'dest_tag': 11,
                'dest_tag_name': 'f43-candidate'}

    def getBuildConfig(self, tag):
        return {'id': tag, 'name': 'f43-build', 'arches': self.arches}

    def getTag(self, tag, strict=False):
        return {'id': 10, 'name': 'f43-build'}

    @property
    def repo(self):
        # repo.request as the hub answers when the tag's repo is current
        return SimpleNamespace(request=lambda tag, **kw: {'repo': {'id': 2024, 'state': 1, 'tag_id': tag, 'create_event': 7},
                                                          'request': None, 'duplicate': False})

    def getNextRelease(self, info):
        return '7'


def make_handler(session=None, config=None, options=None):
    conf = {'url': 'http://127.0.0.1:9', 'timeout': 5, 'poll_interval': 0.01, 'request_timeout': 2,
            'retries': 0, 'cancel_check_interval': 1, 'token': None, 'ssl_cert': None, 'ssl_key': None,
            'ssl_ca': None, 'ssl_verify': True, 'koji_server': None}
    conf.update(config or {})
    with mock.patch.object(builder, 'read_config', return_value=conf):
        return builder.KilnOSBuildImage(42, 'osbuildImage', [], session or FakeSession(),
                                        options or SimpleNamespace(topurl='http://hub.example.com/kojifiles'))


class TestLegacyNames(unittest.TestCase):
    def test_map(self):
        self.assertEqual(builder.map_image_type('qcow2'), 'guest-image')
        self.assertEqual(builder.map_image_type('ec2'), 'aws-rhui')
        self.assertEqual(builder.map_image_type('ec2-ha'), 'aws-ha-rhui')
        self.assertEqual(builder.map_image_type('ec2-sap'), 'aws-sap-rhui')
        self.assertEqual(builder.map_image_type(['qcow2']), 'guest-image')
        self.assertEqual(builder.map_image_type('minimal-raw'), 'minimal-raw')
        with self.assertRaises(koji.ParameterError):
            builder.map_image_type(['a', 'b'])


class TestSubstitution(unittest.TestCase):
    def test_arch(self):
        self.assertEqual(builder.substitute_arch('http://r/$arch/os', 'aarch64', 'repo[0]'), 'http://r/aarch64/os')
        self.assertEqual(builder.substitute_arch('http://r/${arch}-x', 'x86_64', 'repo[0]'), 'http://r/x86_64-x')
        self.assertEqual(builder.substitute_arch('price$$', 'x86_64', 'repo[0]'), 'price$')
        self.assertEqual(builder.substitute_arch('http://r/plain', 'x86_64', 'repo[0]'), 'http://r/plain')

    def test_other_variables_are_named(self):
        with self.assertRaisesRegex(koji.BuildError, r'repo\[1\]: unknown variable \$basearch'):
            builder.substitute_arch('http://r/$basearch', 'x86_64', 'repo[1]')
        with self.assertRaisesRegex(koji.BuildError, r'ostree.ref: unknown variable \$releasever'):
            builder.substitute_arch('fedora/${releasever}/$arch', 'x86_64', 'ostree.ref')
        with self.assertRaisesRegex(koji.BuildError, r'repo\[0\]: invalid "\$"'):
            builder.substitute_arch('http://r/$', 'x86_64', 'repo[0]')


class TestRequest(unittest.TestCase):
    def test_unknown_target(self):
        h = make_handler()
        with self.assertRaises(koji.GenericError):
            h.handler('n', '1', 'fedora-43', 'guest-image', 'nope', ['x86_64'], {'repo': ['http://r']})

    def test_arch_not_in_build_tag(self):
        h = make_handler()
        with self.assertRaisesRegex(koji.BuildError, r'Unsupported architecture\(s\) for tag f43-build: s390x'):
            h.handler('n', '1', 'fedora-43', 'guest-image', 'f43-candidate', ['x86_64', 's390x'], {'repo': ['http://r']})
        h = make_handler(FakeSession(arches=''))
        with self.assertRaisesRegex(koji.BuildError, "Missing arches for tag 'f43-build'"):
            h.handler('n', '1', 'fedora-43', 'guest-image', 'f43-candidate', ['x86_64'], {'repo': ['http://r']})

    def test_request_shape(self):
        h = make_handler(config={'koji_server': 'https://koji.example.com/kojihub'})
        t = h.session.getBuildTarget('f43-candidate')
        opts = {'repo': ['http://a/$arch/os', {'baseurl': 'http://b/${arch}', 'package_sets': ['build', 'os']}],
                'ostree': {'parent': 'p/$arch', 'ref': 'fedora/$arch/iot', 'url': 'http://o/$arch'},
                'upload_options': {'region': 'eu-west-1'}, 'customizations': {'packages': ['vim']}}
        repos = h.resolve_repos(t, opts)
        req = h.make_request('n', '1', '3', 'fedora-43', 'guest-image', ['x86_64', 'aarch64'], repos, opts)
        self.assertEqual(req['koji'], {'name': 'n', 'version': '1', 'release': '3', 'task_id': 42,
                                       'server': 'https://koji.example.com/kojihub'})
        self.assertEqual([r['architecture'] for r in req['image_requests']], ['x86_64', 'aarch64'])
        arm = req['image_requests'][1]
        self.assertEqual(arm['repositories'], [
            {'baseurl': 'http://a/aarch64/os', 'rhsm': False},
            {'baseurl': 'http://b/aarch64', 'rhsm': False, 'package_sets': ['build', 'os']}])
        self.assertEqual(arm['ostree'], {'parent': 'p/aarch64', 'ref': 'fedora/aarch64/iot', 'url': 'http://o/$arch'})
        self.assertEqual(arm['upload_options'], {'region': 'eu-west-1'})
        self.assertEqual(req['customizations'], {'packages': ['vim']})

    def test_build_tag_repo_and_defaults(self):
        h = make_handler()
        t = h.session.getBuildTarget('f43-candidate')
        repos = h.resolve_repos(t, {})
        self.assertEqual(repos, [('http://hub.example.com/kojifiles/repos/f43-build/2024/$arch', None)])
        req = h.make_request('n', '1', '3', 'fedora-43', 'guest-image', ['x86_64'], repos, {})
        self.assertEqual(req['image_requests'][0]['repositories'][0]['baseurl'],
                         'http://hub.example.com/kojifiles/repos/f43-build/2024/x86_64')
        self.assertNotIn('upload_options', req['image_requests'][0])
        self.assertNotIn('customizations', req)
        # no [koji] server configured: the hub kojid itself uses
        self.assertEqual(req['koji']['server'], 'http://hub.example.com/kojihub')

    def test_bad_variable_fails_before_anything_is_submitted(self):
        h = make_handler()
        with mock.patch.object(h, 'upload_json') as up:
            with self.assertRaisesRegex(koji.BuildError, r'unknown variable \$basearch'):
                h.handler('n', '1', 'fedora-43', 'guest-image', 'f43-candidate', ['x86_64'],
                          {'repo': ['http://r/$basearch']})
            up.assert_not_called()

    def test_unreachable_kiln_is_a_clear_error(self):
        h = make_handler()
        with mock.patch.object(h, 'upload_text'):
            with self.assertRaisesRegex(koji.GenericError, r'cannot reach Kiln at http://127.0.0.1:9'):
                h.handler('n', '1', 'fedora-43', 'qcow2', 'f43-candidate', ['x86_64'], {'repo': ['http://r/$arch']})


class TestStatusText(unittest.TestCase):
    def test_status_line_and_reason(self):
        st = {'id': 'c1', 'status': 'pending', 'image_statuses': [
            {'status': 'building', 'progress': {'done': 3, 'total': 10, 'message': 'org.osbuild.rpm',
                                                'subprogress': {'done': 1, 'total': 2}}},
            {'status': 'failure', 'error': {'id': 10, 'reason': 'depsolve failed'}}]}
        self.assertEqual(builder.status_line(st),
                         'compose c1: pending; [0] building 3/10 org.osbuild.rpm (1/2); [1] failure error: depsolve failed')
        self.assertEqual(builder.failure_reason(st), 'depsolve failed')
        self.assertEqual(builder.failure_reason({'reason': 'canceled: x', 'image_statuses': []}), 'canceled: x')


class TestAttachResults(unittest.TestCase):
    def test_an_image_without_a_manifest_gets_no_manifest_file(self):
        h = make_handler()
        h.client = mock.Mock()
        h.client.compose_manifests.return_value = [{}, {'version': '2', 'pipelines': []}]
        h.client.compose_logs.return_value = {'image_builds': [{'depsolve': {}}, {'osbuild': {}}], 'koji': {}}
        names = []
        with mock.patch.object(h, 'upload_json', side_effect=lambda name, data: names.append(name)):
            h.attach_results('c1', [{'architecture': 'x86_64', 'image_type': 'guest-image'},
                                    {'architecture': 'aarch64', 'image_type': 'guest-image'}])
        self.assertEqual(names, ['aarch64-guest-image.manifest', 'x86_64-guest-image.log', 'aarch64-guest-image.log'])


class TestConfig(unittest.TestCase):
    def test_defaults_and_file(self):
        with mock.patch.dict(os.environ, {'KILN_BUILDER_CONF': '/nonexistent/builder.conf'}):
            cfg = builder.read_config()
        self.assertEqual(cfg['url'], 'http://localhost:8700')
        self.assertEqual(cfg['timeout'], 86400.0)
        self.assertEqual(cfg['poll_interval'], 2.0)
        self.assertIsNone(cfg['token'])
        with tempfile.TemporaryDirectory() as d:
            tok = os.path.join(d, 'token')
            with open(tok, 'w') as f:
                f.write('tok-123\n')
            path = os.path.join(d, 'builder.conf')
            with open(path, 'w') as f:
                f.write('[kiln]\nurl = https://kiln.example.com/\ntoken_file = %s\nssl_cert = /c.pem\n'
                        'ssl_key = /k.pem\nssl_ca = /ca.pem\ntimeout = 3600\n[koji]\nserver = https://koji/kojihub\n' % tok)
            cfg = builder.read_config(path)
        self.assertEqual((cfg['url'], cfg['token'], cfg['ssl_cert'], cfg['ssl_key'], cfg['ssl_ca'], cfg['timeout']),
                         ('https://kiln.example.com', 'tok-123', '/c.pem', '/k.pem', '/ca.pem', 3600.0))
        self.assertEqual(cfg['koji_server'], 'https://koji/kojihub')


class FakeKiln(BaseHTTPRequestHandler):
    """Kiln's compose API answering a compose that builds, then fails (HTTP 503 once on the way)."""
    polls = 0
    seen = []

    def log_message(self, *args):
        pass

    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
        FakeKiln.seen.append(('POST', self.path, self.headers.get('Authorization'), body))
        if self.path.endswith('/compose'):
            return self.reply(201, {'href': '/compose', 'kind': 'ComposeId', 'id': 'c1'})
        self.reply(404, {'kind': 'Error', 'code': 'KILN_NOT_FOUND', 'reason': 'no'})

    def do_GET(self):
        FakeKiln.seen.append(('GET', self.path, self.headers.get('Authorization'), None))
        base = builder.API_PATH + '/composes/c1'
        if self.path == base:
            FakeKiln.polls += 1
            if FakeKiln.polls == 2:
                return self.reply(503, {'kind': 'Error', 'code': 'KILN_UNAVAILABLE', 'reason': 'busy'})
            if FakeKiln.polls < 4:
                return self.reply(200, {'id': 'c1', 'status': 'pending', 'koji_status': {'build_id': 5},
                                        'image_statuses': [{'status': 'building', 'progress': {'done': FakeKiln.polls, 'total': 9}}]})
            return self.reply(200, {'id': 'c1', 'status': 'failure', 'koji_status': {'build_id': 5},
                                    'image_statuses': [{'status': 'failure', 'error': {'id': 10, 'reason': 'osbuild stage org.osbuild.rpm failed'}}]})
        if self.path == base + '/logs':
            return self.reply(200, {'image_builds': [{'osbuild': {'log': 'boom'}}], 'koji': {'init': {'state': 'success'}}})
        if self.path == base + '/manifests':
            return self.reply(200, {'manifests': [{'pipelines': []}]})
        self.reply(404, {'kind': 'Error', 'code': 'KILN_NOT_FOUND', 'reason': 'no'})


class TestFailedCompose(unittest.TestCase):
    def test_failure_is_a_build_error_with_the_reason_and_files_attached(self):
        server = ThreadingHTTPServer(('127.0.0.1', 0), FakeKiln)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        url = 'http://127.0.0.1:%d' % server.server_address[1]
        h = make_handler(config={'url': url, 'token': 'tok', 'retries': 2})
        uploads = {}

        def upload(session, name, fd, path, retries, logger):
            self.assertEqual(path, 'tasks/42/42')
            uploads.setdefault(name, []).append(fd.read().decode())

        with mock.patch.object(builder, 'fast_incremental_upload', side_effect=upload), \
                mock.patch.object(builder.time, 'sleep'), \
                self.assertLogs('koji.plugin.kiln', 'WARNING') as logs:
            with self.assertRaisesRegex(koji.BuildError, r'^Compose c1 failed: osbuild stage org.osbuild.rpm failed$'):
                h.handler('n', '1', 'fedora-43', 'qcow2', 'f43-candidate', ['x86_64'], {'repo': ['http://r/$arch']})
        self.assertEqual(sorted(uploads), ['compose-request.json', 'compose-status.json', 'kiln-compose.json',
                                           'kiln-progress.log', 'koji-init.log.json', 'x86_64-guest-image.log.json',
                                           'x86_64-guest-image.manifest.json'])
        self.assertEqual(json.loads(uploads['compose-status.json'][-1])['status'], 'failure')
        self.assertGreaterEqual(len(uploads['compose-status.json']), 3)  # re-uploaded as it changed
        progress = uploads['kiln-progress.log'][-1]
        self.assertIn('[0] building 3/9', progress)
        self.assertIn('compose c1 failed: osbuild stage org.osbuild.rpm failed', progress)
        self.assertTrue(all(auth == 'Bearer tok' for _, _, auth, _ in FakeKiln.seen))
        self.assertEqual(FakeKiln.seen[0][3]['image_requests'][0]['image_type'], 'guest-image')
        self.assertNotIn('cancel', ' '.join(p for _, p, _, _ in FakeKiln.seen))
        self.assertIn('HTTP 503, retrying', '\n'.join(logs.output))


class CanceledKiln(FakeKiln):
    """A compose that builds until it is canceled (the hub plugin's callback, or the handler)."""
    canceled = None
    requests = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
        CanceledKiln.requests.append(('POST', self.path, self.headers.get('Authorization'), body))
        if self.path.endswith('/compose'):
            return self.reply(201, {'href': '/compose', 'kind': 'ComposeId', 'id': 'c1'})
        if self.path.endswith('/composes/c1/cancel'):
            CanceledKiln.canceled = CanceledKiln.canceled or body['reason']
            return self.reply(200, self.status())
        self.reply(404, {'kind': 'Error', 'code': 'KILN_NOT_FOUND', 'reason': 'no'})

    def status(self):
        if CanceledKiln.canceled:
            return {'id': 'c1', 'status': 'failure', 'reason': 'canceled: %s' % CanceledKiln.canceled, 'koji_status': {'build_id': 5},
                    'image_statuses': [{'status': 'failure', 'error': {'id': 12, 'reason': 'canceled: %s' % CanceledKiln.canceled}}]}
        return {'id': 'c1', 'status': 'pending', 'koji_status': {'build_id': 5}, 'image_statuses': [{'status': 'building'}]}

    def do_GET(self):
        CanceledKiln.requests.append(('GET', self.path, self.headers.get('Authorization'), None))
        if self.path == builder.API_PATH + '/composes/c1':
            return self.reply(200, self.status())
        self.reply(404, {'kind': 'Error', 'code': 'KILN_NOT_FOUND', 'reason': 'no'})


class TestCanceledOnTheHub(unittest.TestCase):
    """kojid seen against the real hub: after `koji cancel` the hub plugin cancels the compose, and
    the next upload to the task's directory is refused ("host 1 does not own task 32")."""

    def run_handler(self, hub_cancels_compose):
        CanceledKiln.requests = []
        CanceledKiln.canceled = None
        server = ThreadingHTTPServer(('127.0.0.1', 0), CanceledKiln)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        session = FakeSession()
        session.getTaskInfo = lambda task_id, **kw: {'id': task_id, 'state': koji.TASK_STATES['CANCELED']}
        h = make_handler(session=session, config={'url': 'http://127.0.0.1:%d' % server.server_address[1], 'cancel_check_interval': 3600})
        uploads = []
        lost = []

        def upload(session, name, fd, path, retries, logger):
            if not lost and name == 'compose-status.json' and name in uploads:
                # the task is canceled on the hub between two polls
                lost.append(True)
                if hub_cancels_compose:
                    CanceledKiln.canceled = 'Koji task 42 canceled'
            if lost:
                raise koji.ActionNotAllowed('host 1 does not own task 42')
            uploads.append(name)

        polls = iter(range(100))
        orig_status = builder.KilnClient.compose_status

        def status(client, cid):
            st = orig_status(client, cid)
            if next(polls) == 1:
                st = dict(st, image_statuses=[{'status': 'building', 'progress': {'done': 1, 'total': 5}}])
            return st

        with mock.patch.object(builder, 'fast_incremental_upload', side_effect=upload), \
                mock.patch.object(builder.KilnClient, 'compose_status', status), \
                mock.patch.object(builder.time, 'sleep'), \
                self.assertLogs('koji.plugin.kiln', 'INFO') as logs:
            with self.assertRaises(koji.BuildError) as err:
                h.handler('n', '1', 'fedora-43', 'qcow2', 'f43-candidate', ['x86_64'], {'repo': ['http://r/$arch']})
        return str(err.exception), '\n'.join(logs.output)

    def test_compose_canceled_by_the_hub_plugin(self):
        err, log = self.run_handler(hub_cancels_compose=True)
        self.assertEqual(err, 'Task 42 is CANCELED on the hub; compose c1 canceled')
        self.assertIn('task 42 is CANCELED on the hub; this host no longer owns it (host 1 does not own task 42)', log)
        self.assertIn('task 42: compose c1 ended: canceled: Koji task 42 canceled', log)
        self.assertIn("not noted in kiln-progress.log, the hub no longer takes this host's uploads for the task", log)
        self.assertNotIn('could not cancel', log)

    def test_compose_canceled_by_the_handler(self):
        err, log = self.run_handler(hub_cancels_compose=False)
        self.assertEqual(err, 'Task 42 is CANCELED on the hub; compose c1 canceled')
        self.assertEqual(CanceledKiln.canceled, 'Koji task 42 canceled')
        self.assertEqual([p for m, p, _, _ in CanceledKiln.requests if m == 'POST'][-1], builder.API_PATH + '/composes/c1/cancel')
        self.assertIn('task 42: compose c1 ended: canceled: Koji task 42 canceled', log)
        self.assertNotIn('could not cancel', log)


if __name__ == '__main__':
    unittest.main()
