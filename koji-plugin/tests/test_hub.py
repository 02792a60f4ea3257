"""Hub plugin: argument validation (built-in validator and jsonschema when present), the task it
makes, permissions, priority, and the cancel callback's error handling."""

import json
import os
import tempfile
import unittest
import xmlrpc.client
from unittest import mock

from .util import load_plugin

import koji  # noqa: E402  (the stand-in, put on sys.path by util)

hub = load_plugin('hub')

GOOD = ['fedora-guest', '43', 'fedora-43', 'guest-image', 'f43-candidate', ['x86_64'], {}]


class Session(object):
    def __init__(self, perms=('image',)):
        self.perms = set(perms)
        self.asserted = []

    def assertPerm(self, perm):
        self.asserted.append(perm)
        if perm not in self.perms and 'admin' not in self.perms:
            raise koji.ActionNotAllowed('%s permission required' % perm)

    def hasPerm(self, perm):
        return perm in self.perms


class HubCase(unittest.TestCase):
    def setUp(self):
        self.session = Session()
        hub.context.session = self.session
        self.tasks = []
        patcher = mock.patch.object(hub.kojihub, 'make_task', side_effect=lambda m, a, **o: self.tasks.append((m, a, o)) or 4711)
        patcher.start()
        self.addCleanup(patcher.stop)

    def call(self, *args, **kwargs):
        return hub.osbuildImage(*args, **kwargs)


class TestOsbuildImage(HubCase):
    def test_basic_call_makes_an_image_task(self):
        tid = self.call(*GOOD[:6], opts={'release': '1', 'repo': ['http://r/$arch']})
        self.assertEqual(tid, 4711)
        self.assertEqual(self.session.asserted, ['image'])
        method, args, opts = self.tasks[0]
        self.assertEqual(method, 'osbuildImage')
        self.assertEqual(args, GOOD[:6] + [{'release': '1', 'repo': ['http://r/$arch']}])
        self.assertEqual(opts, {'channel': 'image'})

    def test_one_element_image_type_list_becomes_a_string(self):
        self.call('n', 'v', 'd', ['qcow2'], 't', ['x86_64'], opts={})
        self.assertEqual(self.tasks[0][1][3], 'qcow2')
        self.call('n', 'v', 'd', ['qcow2', 'minimal-raw'], 't', ['x86_64'], opts={'scratch': True})
        self.assertEqual(self.tasks[1][1][3], ['qcow2', 'minimal-raw'], 'several types stay a list')

    def test_without_image_permission(self):
        hub.context.session = Session(perms=())
        with self.assertRaises(koji.ActionNotAllowed):
            self.call(*GOOD[:6], opts={})
        self.assertEqual(self.tasks, [])

    def test_priority(self):
        self.call(*GOOD[:6], opts={}, priority=5)
        self.assertEqual(self.tasks[-1][2], {'channel': 'image', 'priority': koji.PRIO_DEFAULT + 5})
        with self.assertRaisesRegex(koji.ActionNotAllowed, 'only admins'):
            self.call(*GOOD[:6], opts={}, priority=-1)
        hub.context.session = Session(perms=('image', 'admin'))
        self.call(*GOOD[:6], opts={}, priority=-1)
        self.assertEqual(self.tasks[-1][2]['priority'], koji.PRIO_DEFAULT - 1)
        with self.assertRaisesRegex(koji.ParameterError, 'priority'):
            self.call(*GOOD[:6], opts={}, priority='high')


# (args, field named in the error) — every bad field must be named
BAD = [
    (['n', 'v', 'd', 't', 'tg', ['x'], None], 'opts'),
    (['n', 'v', 'd', [], 'tg', ['x'], {}], 'image_type'),
    (['n', 'v', 'd', ['a', 2], 'tg', ['x'], {}], 'image_type'),
    (['n', 'v', 'd', 't', 'tg', [], {}], 'arches'),
    ([1, 'v', 'd', 't', 'tg', ['x'], {}], 'name'),
    (['n', 2, 'd', 't', 'tg', ['x'], {}], 'version'),
    (['n', 'v', None, 't', 'tg', ['x'], {}], 'distro'),
    (['n', 'v', 'd', 't', 5, ['x'], {}], 'target'),
    (['n', 'v', 'd', 't', 'tg', ['x', 3], {}], 'arches[1]'),
    (['n', 'v', 'd', 't', 'tg', ['x'], {'bogus': True}], 'opts'),
    (['n', 'v', 'd', 't', 'tg', ['x'], {'scratch': 'yes'}], 'opts.scratch'),
    (['n', 'v', 'd', 't', 'tg', ['x'], {'repo': [{'package_sets': ['a']}]}], 'opts.repo[0]'),
    (['n', 'v', 'd', 't', 'tg', ['x'], {'repo': ['ok', {'baseurl': 'x', 'gpgkey': 'k'}]}], 'opts.repo[1]'),
    (['n', 'v', 'd', 't', 'tg', ['x'], {'repo': 'http://r'}], 'opts.repo'),
    (['n', 'v', 'd', 't', 'tg', ['x'], {'upload_options': {'region': 'r', 'foo': 1}}], 'opts.upload_options'),
    (['n', 'v', 'd', 't', 'tg', ['x'], {'ostree': {'ref': 'r', 'contenturl': 'c'}}], 'opts.ostree'),
    (['n', 'v', 'd', 't', 'tg', ['x'], {'release': 1}], 'opts.release'),
    (['n', 'v', 'd', 't', 'tg', ['x'], {'skip_tag': 'yes'}], 'opts.skip_tag'),
    (['n', 'v', 'd', 't', 'tg', ['x'], {'customizations': []}], 'opts.customizations'),
    (['n', 'v', 'd', 't', 'tg', ['x'], {'repo': [{'baseurl': 'u', 'package_sets': 'a'}]}], 'opts.repo[0]'),
]

GOOD_OPTS = [
    {},
    {'repo': ['http://a/$arch', {'baseurl': 'http://b', 'package_sets': ['os']}]},
    {'upload_options': {}},
    {'upload_options': {'region': 'r'}},
    {'upload_options': {'region': 'r', 'share_with_accounts': ['1']}},
    {'upload_options': {'tenant_id': 't', 'subscription_id': 's', 'resource_group': 'g'}},
    {'ostree': {'parent': 'p', 'ref': 'fedora/$arch/iot', 'url': 'u'}},
    {'release': '1', 'skip_tag': True, 'customizations': {'packages': ['vim']}},
    {'scratch': True},
]


class ValidationMixin(object):
    def check_bad(self):
        for args, field in BAD:
            with self.subTest(args=args):
                with self.assertRaises(koji.ParameterError) as cm:
                    hub.validate_args(args)
                msg = str(cm.exception)
                # the field itself or a part of it (e.g. opts.repo[0].package_sets) is named first
                self.assertTrue(msg.startswith(field) and msg[len(field)] in ':.[', '%r does not name %s' % (msg, field))

    def check_good(self):
        for opts in GOOD_OPTS:
            with self.subTest(opts=opts):
                hub.validate_args(GOOD[:6] + [opts])
        hub.validate_args(['n', 'v', 'd', ['t'], 'tg', ['x'], {}])
        hub.validate_args(['n', 'v', 'd', ['t', 'u'], 'tg', ['x'], {}])  # Kiln: several image types

    def check_short(self):
        with self.assertRaisesRegex(koji.ParameterError, r'^args: .*too short'):
            hub.validate_args(GOOD[:6])


class TestBuiltinValidator(unittest.TestCase, ValidationMixin):
    def setUp(self):
        patcher = mock.patch.object(hub, 'jsonschema', None)
        patcher.start()
        self.addCleanup(patcher.stop)

    def test_bad_fields_are_named(self):
        self.check_bad()

    def test_good_arguments_pass(self):
        self.check_good()

    def test_too_few_arguments(self):
        self.check_short()

    def test_messages(self):
        with self.assertRaisesRegex(koji.ParameterError, r"opts: Additional properties are not allowed \('bogus' was unexpected\)"):
            hub.validate_args(GOOD[:6] + [{'bogus': True}])
        with self.assertRaisesRegex(koji.ParameterError, r"opts.repo\[0\]: 'baseurl' is a required property"):
            hub.validate_args(GOOD[:6] + [{'repo': [{'package_sets': ['a']}]}])
        with self.assertRaisesRegex(koji.ParameterError, r"opts: None is not of type 'object'"):
            hub.validate_args(GOOD[:6] + [None])


try:
    import jsonschema  # noqa: F401
except ImportError:
    jsonschema = None


@unittest.skipIf(jsonschema is None, 'python3-jsonschema is not installed (the built-in validator is tested above)')
class TestJsonschemaValidator(unittest.TestCase, ValidationMixin):
    def setUp(self):
        patcher = mock.patch.object(hub, 'jsonschema', jsonschema)
        patcher.start()
        self.addCleanup(patcher.stop)

    def test_schema_is_valid_draft4(self):
        jsonschema.Draft4Validator.check_schema(hub.OSBUILD_IMAGE_SCHEMA)

    def test_bad_fields_are_named(self):
        self.check_bad()

    def test_good_arguments_pass(self):
        self.check_good()


class _Rpc(object):
    """Kiln's XML-RPC as the hub plugin calls it: compose.check records the request, or refuses as Kiln does."""
    def __init__(self, fault=None):
        self.checked = []
        self.fault = fault
        self.compose = self

    def check(self, request):
        self.checked.append(request)
        if self.fault:
            raise xmlrpc.client.Fault(koji.ParameterError.faultCode, self.fault)
        return {'ok': True}

    def __call__(self, name):
        return lambda: None


class TestImageBuilderBuildBootc(HubCase):
    """imageBuilderBuild with opts.bootc: the request Kiln is asked about, and the refusals."""

    def setUp(self):
        super().setUp()
        self.rpc = _Rpc()
        config = {'url': 'http://kiln', 'check': True, 'hub_url': 'http://hub/kojihub', 'timeout': 1}
        for target, kwargs in ((hub, {'read_config': lambda path=None: config, 'kiln_rpc': lambda c: self.rpc}),
                               (hub.kojihub, {'get_build_target': lambda t, strict=False: {'build_tag': 1, 'build_tag_name': 'bootc-build'},
                                              'get_tag': lambda t, strict=False: {'arches': 'x86_64 aarch64'},
                                              # a build tag with no release package: a bootc image does not need one
                                              'readTaggedBuilds': lambda *a, **k: []})):
            patcher = mock.patch.multiple(target, **kwargs)
            patcher.start()
            self.addCleanup(patcher.stop)

    def call(self, types, opts):
        return hub.imageBuilderBuild('bootc-target', [], types, 'Fedora-bootc', '42', opts=opts)

    def test_request_has_bootc_per_image_and_no_distribution(self):
        opts = {'bootc': {'ref': 'quay.io/fedora/fedora-bootc:42', 'build-ref': 'quay.io/fedora/builder:42', 'default-fs': 'xfs',
                          'installer-payload-ref': ''}, 'seed': 7}
        self.assertEqual(self.call(['qcow2'], opts), 4711)
        req = self.rpc.checked[0]
        self.assertNotIn('distribution', req)
        self.assertEqual([(i['architecture'], i['image_type'], i['bootc']) for i in req['image_requests']],
                         [(a, 'qcow2', {'ref': 'quay.io/fedora/fedora-bootc:42', 'build-ref': 'quay.io/fedora/builder:42', 'default-fs': 'xfs'})
                          for a in ('x86_64', 'aarch64')])
        self.assertEqual(req['seed'], '7')
        self.assertEqual(self.tasks[0][0], 'imageBuilderBuild')
        self.assertEqual(self.tasks[0][1][-1], opts, 'the task gets the opts as given (the builder drops the empty values too)')

    def test_no_release_package_without_bootc_is_refused(self):
        with self.assertRaisesRegex(koji.ParameterError, r'^opts\.distro: is needed: no release package'):
            self.call(['qcow2'], {'bootc': {'ref': ''}})  # empty values: not a bootc build

    def test_distro_with_bootc_is_refused_as_image_builder_refuses_it(self):
        with self.assertRaisesRegex(koji.ParameterError, r'^opts\.distro: cannot be given with opts\.bootc \(image-builder: cannot use --distro with --bootc-ref\)'):
            self.call(['qcow2'], {'bootc': {'ref': 'quay.io/x/y:1'}, 'distro': 'fedora-42'})
        self.assertEqual((self.rpc.checked, self.tasks), ([], []))

    def test_kiln_field_names_become_the_callers(self):
        self.rpc.fault = 'image_requests[1].bootc.installer-payload-ref: applies to bootc ISO image types'
        with self.assertRaisesRegex(koji.ParameterError, r'^Kiln cannot build this: opts\.bootc\.installer-payload-ref: applies to'):
            self.call(['qcow2'], {'bootc': {'ref': 'quay.io/x/y:1', 'installer-payload-ref': 'quay.io/x/z:1'}})
        self.rpc.fault = 'image_requests[0].image_type: "minimal-raw" is not a bootc image type (image_requests[0].bootc)'
        with self.assertRaisesRegex(koji.ParameterError, r'^Kiln cannot build this: types\[0\]: "minimal-raw" is not a bootc image type \(opts\.bootc\)$'):
            self.call(['minimal-raw'], {'bootc': {'ref': 'quay.io/x/y:1'}})
        self.assertEqual(self.tasks, [])


class TestCancelCallback(unittest.TestCase):
    def test_ignores_other_changes(self):
        with mock.patch.object(hub, 'cancel_task_composes') as cancel:
            hub.kiln_task_state_change('postTaskStateChange', attribute='state', old=1, new=2,
                                       info={'id': 5, 'method': 'osbuildImage'})
            hub.kiln_task_state_change('postTaskStateChange', attribute='state', old=1, new=3,
                                       info={'id': 5, 'method': 'buildArch'})
            cancel.assert_not_called()
            hub.kiln_task_state_change('postTaskStateChange', attribute='state', old=1, new=3,
                                       info={'id': 5, 'method': 'osbuildImage'})
            cancel.assert_called_once_with(5)

    def test_unreachable_kiln_is_logged_not_raised(self):
        with tempfile.TemporaryDirectory() as d:
            conf = os.path.join(d, 'kiln.conf')
            with open(conf, 'w') as f:
                f.write('[kiln]\nurl = http://127.0.0.1:9\ntimeout = 2\n')
            with mock.patch.dict(os.environ, {'KILN_HUB_PLUGIN_CONF': conf}):
                with self.assertLogs('koji.plugin.kiln', 'WARNING') as logs:
                    hub.kiln_task_state_change('postTaskStateChange', attribute='state', old=1, new=3,
                                               info={'id': 5, 'method': 'osbuildImage'})
        self.assertIn('could not reach Kiln', '\n'.join(logs.output))

    def test_marked_as_ignorable_callback(self):
        self.assertTrue(getattr(hub.kiln_task_state_change, 'failure_is_an_option', False))
        self.assertEqual(hub.kiln_task_state_change.callbacks, ['postTaskStateChange'])

    def test_config(self):
        with tempfile.TemporaryDirectory() as d:
            tok = os.path.join(d, 'token')
            with open(tok, 'w') as f:
                f.write('secret-token\n')
            conf = os.path.join(d, 'kiln.conf')
            with open(conf, 'w') as f:
                f.write('[kiln]\nurl = https://kiln.example.com\ntoken_file = %s\nssl_ca = /ca.pem\n' % tok)
            cfg = hub.read_config(conf)
        self.assertEqual(cfg['url'], 'https://kiln.example.com')
        self.assertEqual(cfg['token'], 'secret-token')
        self.assertEqual(cfg['ssl_ca'], '/ca.pem')
        self.assertEqual(json.loads(json.dumps(cfg))['timeout'], 10.0)


if __name__ == '__main__':
    unittest.main()
