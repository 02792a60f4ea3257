/**
 * The RPM repository fixture builder (test/helpers/rpm-repos.ts) that the depsolve, compose and
 * osbuild tests share: what it builds is checked with rpm itself.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import YAML from 'yaml';
import { buildRepo, cachedRepo, modularRepo, modulesYaml, serveDirectory } from './helpers/rpm-repos.js';

const run = promisify(execFile);
const scratch = mkdtempSync(path.join(os.tmpdir(), 'kiln-fixture-test-'));
test.after.always(() => rmSync(scratch, { recursive: true, force: true }));

async function rpmq(file: string, ...args: string[]): Promise<string> {
  return (await run('rpm', ['-qp', ...args, file])).stdout.trim();
}

test('buildRepo builds what it is told, for any arch, and makes a repository of it', async (t) => {
  const repo = await buildRepo(path.join(scratch, 'one'), [
    {
      name: 'tool',
      version: '2.5',
      release: '3.kiln',
      epoch: 2,
      arch: 'aarch64',
      requires: ['libthing >= 1.0'],
      provides: ['toolish = 2.5'],
      recommends: ['tool-docs'],
      conflicts: ['oldtool'],
      obsoletes: ['tool-legacy < 2'],
      files: [{ path: '/usr/bin/tool', content: 'echo tool\n', mode: '0755' }, '/etc/tool.conf'],
    },
    { name: 'libthing', version: '1.1' },
  ]);
  t.is(repo.baseurl, `file://${repo.path}`);
  t.true(existsSync(path.join(repo.path, 'repodata', 'repomd.xml')));
  t.deepEqual(repo.packages.map((p) => p.location), ['aarch64/tool-2.5-3.kiln.aarch64.rpm', 'noarch/libthing-1.1-1.noarch.rpm']);
  const tool = path.join(repo.path, repo.packages[0].location);
  t.is(await rpmq(tool, '--qf', '%{NAME} %{EPOCH} %{VERSION} %{RELEASE} %{ARCH}'), 'tool 2 2.5 3.kiln aarch64');
  t.deepEqual((await rpmq(tool, '--requires')).split('\n').filter((r) => !r.startsWith('rpmlib(')), ['libthing >= 1.0']);
  t.true((await rpmq(tool, '--provides')).split('\n').includes('toolish = 2.5'));
  t.is(await rpmq(tool, '--recommends'), 'tool-docs');
  t.is(await rpmq(tool, '--conflicts'), 'oldtool');
  t.is(await rpmq(tool, '--obsoletes'), 'tool-legacy < 2');
  const dump = (await rpmq(tool, '--dump')).split('\n').map((l) => l.split(' '));
  const bin = dump.find((f) => f[0] === '/usr/bin/tool')!;
  t.is(bin[3], createHash('sha256').update('echo tool\n').digest('hex'));
  t.is(bin[4], '0100755');
  t.truthy(dump.find((f) => f[0] === '/etc/tool.conf'));
  t.is(await rpmq(path.join(repo.path, repo.packages[1].location), '--qf', '%{ARCH}'), 'noarch');
});

test('names and dependencies that could inject spec text are refused', async (t) => {
  await t.throwsAsync(buildRepo(path.join(scratch, 'bad1'), [{ name: 'x\nRequires: y' }]), { message: /invalid name/ });
  await t.throwsAsync(buildRepo(path.join(scratch, 'bad2'), [{ name: 'x', requires: ['y\n%post'] }]), { message: /invalid dependency/ });
  await t.throwsAsync(buildRepo(path.join(scratch, 'bad3'), [{ name: 'x', files: ["/a'b"] }]), { message: /invalid file path/ });
});

test('cachedRepo builds once per run and key', async (t) => {
  const a = await cachedRepo('fixture-test', [{ name: 'cached-one' }]);
  const b = await cachedRepo('fixture-test', [{ name: 'cached-one' }]);
  const c = await cachedRepo('fixture-test', [{ name: 'cached-two' }]);
  t.is(a.path, b.path);
  t.not(a.path, c.path);
  t.true(existsSync(path.join(a.path, 'noarch', 'cached-one-1.0-1.noarch.rpm')));
});

test('serveDirectory serves files under its root only', async (t) => {
  const repo = await cachedRepo('fixture-test', [{ name: 'cached-one' }]);
  const server = await serveDirectory(path.dirname(repo.path));
  t.teardown(() => server.close());
  const ok = await fetch(`${server.url}/${path.basename(repo.path)}/repodata/repomd.xml`);
  t.is(ok.status, 200);
  t.regex(await ok.text(), /<repomd/);
  t.is((await fetch(`${server.url}/${path.basename(repo.path)}/nope`)).status, 404);
  t.is((await fetch(`${server.url}/%2e%2e/%2e%2e/etc/passwd`)).status, 404);
  t.true(server.requests.length >= 3);
});

test('modularRepo: module streams and defaults in the repository metadata (modifyrepo_c), their packages built', async (t) => {
  const repo = await modularRepo('x86_64');
  t.deepEqual(repo.modules, ['kilnmod:1', 'kilnmod:2', 'othermod:stable']);
  t.regex(readFileSync(path.join(repo.path, 'repodata', 'repomd.xml'), 'utf8'), /<data type="modules">/);
  const file = readdirSync(path.join(repo.path, 'repodata')).find((f) => f.endsWith('modules.yaml.gz'))!;
  const docs = YAML.parseAllDocuments(gunzipSync(readFileSync(path.join(repo.path, 'repodata', file))).toString('utf8')).map((d) => d.toJS());
  t.deepEqual(docs.map((d) => `${d.document}:${d.data.name ?? d.data.module}:${d.data.stream}`), [
    'modulemd:kilnmod:1', 'modulemd:kilnmod:2', 'modulemd:othermod:stable', 'modulemd-defaults:kilnmod:1',
  ]);
  t.deepEqual(docs[1].data.artifacts.rpms, ['kilnmod-tool-1:2.0-1.module_kilnmod2.noarch', 'kilnmod-extra-0:2.0-1.module_kilnmod2.noarch']);
  for (const rpm of ['noarch/kilnmod-tool-2.0-1.module_kilnmod2.noarch.rpm', 'noarch/kilnmod-tool-3.0-1.noarch.rpm', 'noarch/othermod-pkg-1.0-1.module_othermodstable.noarch.rpm']) {
    t.true(existsSync(path.join(repo.path, rpm)), rpm);
  }
  t.is(await rpmq(path.join(repo.path, 'noarch/kilnmod-tool-2.0-1.module_kilnmod2.noarch.rpm'), '--qf', '%{EPOCH}'), '1');
});

test('modulesYaml refuses a profile naming a package the stream does not have', (t) => {
  t.throws(() => modulesYaml({ streams: [{ name: 'm', stream: '1', arch: 'x86_64', profiles: { default: ['ghost'] }, packages: [{ name: 'real' }] }] }), { message: /profile default names ghost/ });
});
