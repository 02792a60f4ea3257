"""CLI plugin: `koji osbuild-image` argument parsing, early target checks, and the exact shape
of the session.osbuildImage call."""

import contextlib
import io
import json
import os
import tempfile
import unittest
from types import SimpleNamespace
from unittest import mock

from .util import load_plugin

import koji  # noqa: E402

cli = load_plugin('cli')


class Session(object):
    def __init__(self, target=True, dest_tag=True):
        self.calls = []
        self._target = target
        self._dest = dest_tag

    def getBuildTarget(self, name):
        self.calls.append(('getBuildTarget', name))
        if not self._target:
            return None
        return {'name': name, 'build_tag': 1, 'dest_tag': 2, 'dest_tag_name': 'f43-candidate'}

    def getTag(self, tag):
        self.calls.append(('getTag', tag))
        return {'id': tag, 'name': 'f43-candidate'} if self._dest else None

    def login(self):
        self.calls.append(('login',))

    def osbuildImage(self, *args, **kwargs):
        self.calls.append(('osbuildImage', args, kwargs))
        return 99

    def logout(self):
        self.calls.append(('logout',))

    def getTaskResult(self, task_id):
        self.calls.append(('getTaskResult', task_id))
        return {'koji': {'build': 1}}


OPTIONS = SimpleNamespace(weburl='http://koji/koji', quiet=False, poll_interval=1, topurl=None)


def run(argv, session=None, watch=0, bg=False):
    session = session or Session()
    out = io.StringIO()
    with mock.patch.object(cli, 'watch_tasks', return_value=watch) as w, \
            mock.patch.object(cli, '_running_in_bg', return_value=bg), \
            mock.patch.object(cli, 'activate_session', side_effect=lambda s, o: s.login()), \
            contextlib.redirect_stdout(out):
        rv = cli.handle_osbuild_image(OPTIONS, session, argv)
    return rv, session, out.getvalue(), w


class TestCli(unittest.TestCase):
    def test_missing_arch_is_a_usage_error(self):
        with self.assertRaises(SystemExit) as cm, contextlib.redirect_stderr(io.StringIO()):
            run(['name', 'version', 'distro', 'target'])
        self.assertEqual(cm.exception.code, 2)

    def test_call_shape(self):
        rv, s, out, watch = run(['fedora-guest', '43', 'fedora-43', 'f43-candidate', 'x86_64', 'aarch64',
                                 '--repo', 'http://a/$arch', '--repo', 'http://b/$arch', '--release', '5',
                                 '--skip-tag', '--image-type', 'qcow2', '--wait'])
        self.assertEqual(rv, 0)
        names = [c[0] for c in s.calls]
        self.assertEqual(names, ['getBuildTarget', 'getTag', 'login', 'osbuildImage', 'logout', 'getTaskResult'])
        _, args, kwargs = s.calls[3]
        self.assertEqual(args, ('fedora-guest', '43', 'fedora-43', 'qcow2', 'f43-candidate', ['x86_64', 'aarch64']))
        self.assertEqual(kwargs, {'opts': {'release': '5', 'repo': ['http://a/$arch', 'http://b/$arch'], 'skip_tag': True}})
        self.assertIn('Created task: 99', out)
        self.assertIn('Task info: http://koji/koji/taskinfo?taskID=99', out)
        watch.assert_called_once()

    def test_defaults_and_nowait(self):
        rv, s, out, watch = run(['n', 'v', 'd', 't', 'x86_64', '--nowait', '--quiet'])
        self.assertEqual(rv, 0)
        _, args, kwargs = [c for c in s.calls if c[0] == 'osbuildImage'][0]
        self.assertEqual(args[3], 'guest-image')
        self.assertEqual(kwargs, {'opts': {}})
        watch.assert_not_called()
        self.assertNotIn('name:', out)

    def test_background_does_not_wait_unless_asked(self):
        _, _, _, watch = run(['n', 'v', 'd', 't', 'x86_64'], bg=True)
        watch.assert_not_called()
        _, _, _, watch = run(['n', 'v', 'd', 't', 'x86_64'], bg=False)
        watch.assert_called_once()

    def test_failed_task_exit_code(self):
        rv, s, _, _ = run(['n', 'v', 'd', 't', 'x86_64', '--wait'], watch=1)
        self.assertEqual(rv, 1)
        self.assertNotIn('getTaskResult', [c[0] for c in s.calls])

    def test_files_and_ostree(self):
        with tempfile.TemporaryDirectory() as d:
            cust = os.path.join(d, 'c.json')
            up = os.path.join(d, 'u.json')
            with open(cust, 'w') as f:
                json.dump({'packages': ['vim']}, f)
            with open(up, 'w') as f:
                json.dump({'region': 'eu-west-1'}, f)
            _, s, _, _ = run(['n', 'v', 'd', 't', 'x86_64', '--nowait', '--customizations', cust,
                              '--upload-options', up, '--ostree-parent', 'p/$arch', '--ostree-ref', 'r/$arch',
                              '--ostree-url', 'http://o'])
        opts = [c for c in s.calls if c[0] == 'osbuildImage'][0][2]['opts']
        self.assertEqual(opts, {'customizations': {'packages': ['vim']}, 'upload_options': {'region': 'eu-west-1'},
                                'ostree': {'parent': 'p/$arch', 'ref': 'r/$arch', 'url': 'http://o'}})

    def test_bad_json_file_is_a_usage_error(self):
        with tempfile.NamedTemporaryFile('w', suffix='.json') as f:
            f.write('{not json')
            f.flush()
            with self.assertRaises(SystemExit), contextlib.redirect_stderr(io.StringIO()) as err:
                run(['n', 'v', 'd', 't', 'x86_64', '--customizations', f.name])
        self.assertIn('cannot read --customizations file', err.getvalue())

    def test_repo_package_sets(self):
        _, s, _, _ = run(['n', 'v', 'd', 't', 'x86_64', '--nowait',
                          '--repo', 'http://1', '--repo-package-sets', 'a; b; c', '--repo-package-sets', 'd',
                          '--repo', 'http://2', '--repo-package-sets', 'alpha', '--repo', 'http://3'])
        opts = [c for c in s.calls if c[0] == 'osbuildImage'][0][2]['opts']
        self.assertEqual(opts['repo'], [{'baseurl': 'http://1', 'package_sets': ['a', 'b', 'c', 'd']},
                                        {'baseurl': 'http://2', 'package_sets': ['alpha']},
                                        {'baseurl': 'http://3'}])
        with self.assertRaises(SystemExit), contextlib.redirect_stderr(io.StringIO()) as err:
            run(['n', 'v', 'd', 't', 'x86_64', '--repo-package-sets', 'a', '--repo', 'http://1'])
        self.assertIn("Need '--repo'", err.getvalue())

    def test_unknown_target_and_dest_tag_fail_before_the_call(self):
        for session, msg in ((Session(target=False), 'Unknown build target: nope'),
                             (Session(dest_tag=False), 'Unknown destination tag: f43-candidate')):
            with self.assertRaisesRegex(koji.GenericError, msg):
                run(['n', 'v', 'd', 'nope', 'x86_64'], session=session)
            self.assertNotIn('osbuildImage', [c[0] for c in session.calls])
            self.assertNotIn('login', [c[0] for c in session.calls])


class TestImageBuilderBuildCli(unittest.TestCase):
    def test_bootc_options(self):
        """koji image-builder-build's --bootc-* flags become opts.bootc with koji-image-builder's key
        names; --bootc-installer-payload-ref goes to installer-payload-ref (koji-image-builder's CLI
        writes it to build-ref, which its builder then passes as --bootc-build-ref)."""
        parser, opts, args = cli.parse_image_builder_args([
            'f42-bootc', 'Fedora-bootc', '42', 'qcow2', '--arch', 'x86_64',
            '--bootc-ref', 'quay.io/fedora/fedora-bootc:42', '--bootc-build-ref', 'quay.io/fedora/builder:42',
            '--bootc-installer-payload-ref', 'quay.io/fedora/payload:42', '--bootc-default-fs', 'ext4'])
        task_args, task_opts = cli.image_builder_task(parser, opts, args)
        self.assertEqual(task_args, ['f42-bootc', ['x86_64'], ['qcow2'], 'Fedora-bootc', '42'])
        self.assertEqual(task_opts, {'scratch': False, 'bootc': {
            'ref': 'quay.io/fedora/fedora-bootc:42', 'build-ref': 'quay.io/fedora/builder:42',
            'installer-payload-ref': 'quay.io/fedora/payload:42', 'default-fs': 'ext4'}})
        hub = load_plugin('hub')
        hub.validate_args(task_args + [task_opts], hub.IMAGE_BUILDER_BUILD_SCHEMA, hub.IMAGE_BUILDER_ARG_NAMES)
        parser, opts, args = cli.parse_image_builder_args(['t', 'n', 'v', 'qcow2', '--bootc-ref', ''])
        self.assertNotIn('bootc', cli.image_builder_task(parser, opts, args)[1], 'an empty flag sets nothing')


if __name__ == '__main__':
    unittest.main()
