/**
 * libexec/kiln-depsolve-dnf spoken to directly, in the osbuild-depsolve-dnf wire protocol.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { KILN_SOLVER } from '../src/depsolve/index.js';
import { modularRepo, standardRepos } from './helpers/rpm-repos.js';

const scratch = mkdtempSync(path.join(os.tmpdir(), 'kiln-solver-test-'));
test.after.always(() => rmSync(scratch, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  doc: Record<string, any>;
}

function solve(input: unknown, env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(KILN_SOLVER, [], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => {
      let doc = {};
      try {
        doc = JSON.parse(stdout);
      } catch {
        // left empty; the test says what it expected
      }
      resolve({ code, stdout, stderr, doc });
    });
    child.stdin.end(typeof input === 'string' ? input : JSON.stringify(input));
  });
}

let n = 0;
async function wire(transactions: unknown[], extra: Record<string, unknown> = {}, repoExtra: Record<string, unknown> = {}) {
  const repos = await standardRepos();
  return {
    command: 'depsolve',
    arch: 'x86_64',
    releasever: '43',
    cachedir: path.join(scratch, `cache-${n++}`),
    arguments: {
      repos: [
        { id: 'base', baseurl: [repos.base.baseurl], ...repoExtra },
        { id: 'updates', baseurl: [repos.updates.baseurl] },
      ],
      transactions,
    },
    ...extra,
  };
}

test('v1 response: one line, the final set with exactly the v1 package and repo fields', async (t) => {
  const res = await solve(await wire([{ 'package-specs': ['chain-b'] }, { 'package-specs': ['webapp'] }]));
  t.is(res.code, 0, res.stderr);
  t.true(res.stdout.endsWith('\n'));
  t.is(res.stdout.trim().split('\n').length, 1);
  t.is(res.doc.solver, 'dnf');
  t.deepEqual(res.doc.modules, {});
  t.deepEqual(
    res.doc.packages.map((p: any) => p.name),
    ['chain-b', 'chain-c', 'httpd-lite', 'webapp'],
  );
  for (const p of res.doc.packages) {
    t.deepEqual(Object.keys(p).sort(), ['arch', 'checksum', 'epoch', 'name', 'path', 'release', 'remote_location', 'repo_id', 'version']);
    t.regex(p.checksum, /^sha256:[0-9a-f]{64}$/);
    t.is(typeof p.epoch, 'number');
  }
  t.deepEqual(Object.keys(res.doc.repos), ['base']);
  t.deepEqual(Object.keys(res.doc.repos.base).sort(), [
    'baseurl', 'gpgcheck', 'gpgkeys', 'id', 'metalink', 'mirrorlist', 'name', 'repo_gpgcheck', 'sslcacert', 'sslclientcert', 'sslclientkey', 'sslverify',
  ]);
  t.deepEqual(res.doc.kiln_transactions, [
    ['chain-b-0:1.0-1.noarch', 'chain-c-0:1.0-1.noarch'],
    ['httpd-lite-0:1.0-1.noarch', 'webapp-0:1.0-1.noarch'],
  ]);
});

test('v2 response: disjoint transactions with full package metadata', async (t) => {
  const res = await solve(await wire([{ 'package-specs': ['chain-b'] }, { 'package-specs': ['webapp', 'chain-c'] }], { api_version: 2 }));
  t.is(res.code, 0, res.stderr);
  t.deepEqual(
    res.doc.transactions.map((tr: any[]) => tr.map((p) => p.name)),
    [['chain-b', 'chain-c'], ['httpd-lite', 'webapp']],
  );
  const httpd = res.doc.transactions[1][0];
  t.like(httpd, { name: 'httpd-lite', location: 'noarch/httpd-lite-1.0-1.noarch.rpm', license: 'MIT', source_rpm: 'httpd-lite-1.0-1.src.rpm' });
  t.is(httpd.checksum.algorithm, 'sha256');
  t.regex(httpd.checksum.value, /^[0-9a-f]{64}$/);
  t.is(httpd.remote_locations.length, 1);
  t.true(httpd.provides.some((d: any) => d.name === 'webserver'));
  t.deepEqual(httpd.provides.find((d: any) => d.name === 'httpd-lite'), { name: 'httpd-lite', relation: '=', version: '1.0-1' });
  t.deepEqual(httpd.files, ['/usr/sbin/httpd-lite']);
  t.regex(httpd.build_time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  const webapp = res.doc.transactions[1][1];
  t.deepEqual(webapp.requires, [{ name: 'webserver' }]);
  t.deepEqual(res.doc.repos.base.gpgkey, []);
  t.is(res.doc.repos.base.rhsm, false);
  t.false('gpgkeys' in res.doc.repos.base);
  // as osbuild answers: dnf's empty values are "", its defaults are reported
  t.like(httpd, { url: '', packager: '', vendor: '', reason: '' });
  t.like(res.doc.repos.base, { sslcacert: '', sslclientkey: '', sslclientcert: '', module_hotfixes: false, metadata_expire: '20s' });
});

test('InvalidRequest names the offending field; exit 1 with the error on stdout and stderr', async (t) => {
  const good = await wire([{ 'package-specs': ['chain-a'] }]);
  const cases: Array<[string, unknown, string]> = [
    ['not JSON', '{"command": ', '(body)'],
    ['no arch', { ...good, arch: undefined }, 'arch'],
    ['no releasever key', { ...good, releasever: undefined }, 'releasever'],
    ['bad api_version', { ...good, api_version: 3 }, 'api_version'],
    ['unsupported command', { ...good, command: 'dump' }, 'command'],
    [
      'baseurl not a list',
      { ...good, arguments: { ...good.arguments, repos: [{ id: 'x', baseurl: 'file:///x' }] } },
      'arguments.repos[0].baseurl',
    ],
    [
      'unknown repo-ids',
      { ...good, arguments: { ...good.arguments, transactions: [{ 'package-specs': ['a'], 'repo-ids': ['nope'] }] } },
      'arguments.transactions[0].repo-ids[0]',
    ],
    [
      'module-enable-specs not a list',
      { ...good, arguments: { ...good.arguments, transactions: [{ 'package-specs': ['a'], 'module-enable-specs': 'kilnmod:2' }] } },
      'arguments.transactions[0].module-enable-specs',
    ],
    [
      'empty package-specs in v2',
      { ...good, api_version: 2, arguments: { ...good.arguments, transactions: [{ 'package-specs': [] }] } },
      'arguments.transactions[0].package-specs',
    ],
    ['no transactions', { ...good, arguments: { repos: good.arguments.repos } }, 'arguments.transactions'],
  ];
  for (const [what, input, field] of cases) {
    const res = await solve(typeof input === 'string' ? input : JSON.parse(JSON.stringify(input)));
    t.is(res.code, 1, what);
    t.is(res.doc.kind, 'InvalidRequest', what);
    t.is(res.doc.details?.field, field, what);
    t.regex(res.stderr, /^InvalidRequest: /m, what);
  }
});

test('no host state: temporary files are removed, the cache is the request’s, releasever may be null', async (t) => {
  const tmp = path.join(scratch, 'tmp');
  const home = path.join(scratch, 'home');
  mkdirSync(tmp);
  mkdirSync(home);
  const req = await wire([{ 'package-specs': ['chain-a'] }], { releasever: null });
  const res = await solve(req, { ...process.env, TMPDIR: tmp, HOME: home });
  t.is(res.code, 0, res.stderr);
  t.is(res.doc.packages.length, 3);
  t.deepEqual(readdirSync(tmp), []);
  t.deepEqual(readdirSync(home), []);
  t.true(readdirSync(req.cachedir as string).length > 0);
});

test('gpg keys: armored keys are passed through, file:// keys are read, unreadable ones fail', async (t) => {
  const armored = '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nbm90IGEgcmVhbCBrZXk=\n-----END PGP PUBLIC KEY BLOCK-----\n';
  const keyFile = path.join(scratch, 'key.asc');
  writeFileSync(keyFile, armored.replace('bm90', 'ZmlsZQ'));
  const res = await solve(await wire([{ 'package-specs': ['chain-c'] }], {}, { gpgcheck: false, gpgkeys: [armored, `file://${keyFile}`] }));
  t.is(res.code, 0, res.stderr);
  t.deepEqual(res.doc.repos.base.gpgkeys, [armored, armored.replace('bm90', 'ZmlsZQ')]);

  const missing = await solve(await wire([{ 'package-specs': ['chain-c'] }], {}, { gpgkeys: [`file://${scratch}/nope.asc`] }));
  t.is(missing.code, 1);
  t.is(missing.doc.kind, 'GPGKeyReadError');
});

// ---------- modules and repo-ids (compared with osbuild 191's solver: see the module notes in libexec/kiln-depsolve-dnf) ----------

async function modWire(transactions: unknown[], extra: Record<string, unknown> = {}) {
  const base = await wire(transactions, extra);
  const mod = await modularRepo('x86_64');
  base.arguments.repos.push({ id: 'mod', baseurl: [mod.baseurl] });
  return base;
}

const pkgs = (doc: Record<string, any>) => doc.packages.map((p: any) => `${p.name}-${p.epoch}:${p.version}@${p.repo_id}`);

test('module streams: the default stream without enabling; module-enable-specs switch the stream, hiding the non-modular package', async (t) => {
  const plain = await solve(await modWire([{ 'package-specs': ['tool-user'] }]));
  t.is(plain.code, 0, plain.stderr);
  // kilnmod-tool 3.0 outside the module is filtered out while a kilnmod stream is active
  t.deepEqual(pkgs(plain.doc), ['kilnmod-tool-1:1.0@mod', 'tool-user-0:1.0@mod']);
  t.deepEqual(plain.doc.modules, {}, 'a default stream nobody asked for is not reported (as osbuild)');

  const two = await solve(await modWire([{ 'package-specs': ['tool-user'], 'module-enable-specs': ['kilnmod:2'] }]));
  t.is(two.code, 0, two.stderr);
  t.deepEqual(pkgs(two.doc), ['kilnmod-tool-1:2.0@mod', 'tool-user-0:1.0@mod']);
  t.deepEqual(Object.keys(two.doc.modules), ['kilnmod']);
  const { 'module-file': file, 'failsafe-file': failsafe } = two.doc.modules.kilnmod;
  t.deepEqual(file, { path: '/etc/dnf/modules.d/kilnmod.conf', data: { name: 'kilnmod', stream: '2', profiles: [], state: 'enabled' } });
  t.is(failsafe.path, '/var/lib/dnf/modulefailsafe/kilnmod:2');
  t.deepEqual(Object.keys(two.doc.modules.kilnmod), ['module-file', 'failsafe-file']);
  t.deepEqual(Object.keys(failsafe), ['data', 'path']);
  const md = YAML.parse(failsafe.data);
  t.like(md, { document: 'modulemd', version: 2, data: { name: 'kilnmod', stream: '2', context: 'c0ffee43', arch: 'x86_64' } });
  t.deepEqual(md.data.artifacts.rpms.sort(), ['kilnmod-extra-0:2.0-1.module_kilnmod2.noarch', 'kilnmod-tool-1:2.0-1.module_kilnmod2.noarch']);
});

test('@name:stream/profile installs the profile and the module file names it (v2); a stream stays enabled for later transactions', async (t) => {
  const res = await solve(
    await modWire([{ 'package-specs': ['chain-c'], 'module-enable-specs': ['kilnmod:2'] }, { 'package-specs': ['@kilnmod:2/full'] }, { 'package-specs': ['tool-user'] }], { api_version: 2 }),
  );
  t.is(res.code, 0, res.stderr);
  t.deepEqual(
    res.doc.transactions.map((tr: any[]) => tr.map((p) => `${p.name}-${p.version}`)),
    [['chain-c-1.0'], ['kilnmod-extra-2.0', 'kilnmod-tool-2.0'], ['tool-user-1.0']],
  );
  t.deepEqual(res.doc.modules.kilnmod['module-file'].data, { name: 'kilnmod', stream: '2', profiles: ['full'], state: 'enabled' });
});

test('a module of epoch-0 packages is reported too (osbuild 191 omits it: its NEVRAs lack the 0: its artifacts carry)', async (t) => {
  const res = await solve(await modWire([{ 'package-specs': ['othermod-pkg'], 'module-enable-specs': ['othermod:stable'] }]));
  t.is(res.code, 0, res.stderr);
  t.deepEqual(pkgs(res.doc), ['othermod-pkg-0:1.0@mod']);
  t.deepEqual(res.doc.modules.othermod['module-file'].data, { name: 'othermod', stream: 'stable', profiles: [], state: 'enabled' });
});

test('unknown module or stream, and a package of a module not enabled: MarkingErrors naming it, worded as osbuild', async (t) => {
  for (const spec of ['nomod:1', 'kilnmod:9']) {
    const res = await solve(await modWire([{ 'package-specs': ['chain-c'] }, { 'package-specs': ['tool-user'], 'module-enable-specs': [spec] }]));
    t.is(res.code, 1, spec);
    t.is(res.doc.kind, 'MarkingErrors', spec);
    t.is(res.doc.reason, `Error occurred when marking packages for installation: Problems in request:\nmissing groups or modules: ${spec}`);
    t.deepEqual(res.doc.details, { transaction: 1, modules: [spec] });
  }
  const hidden = await solve(await modWire([{ 'package-specs': ['othermod-pkg'] }]));
  t.is(hidden.doc.kind, 'MarkingErrors');
  t.is(hidden.doc.reason, 'Error occurred when marking packages for installation: Problems in request:\nmissing packages: othermod-pkg');
  t.deepEqual(hidden.doc.details, { transaction: 0, packages: ['othermod-pkg'] });
});

test('switching away from a default stream a previous transaction used fails as in osbuild, naming every spec', async (t) => {
  const res = await solve(await modWire([{ 'package-specs': ['tool-user'] }, { 'package-specs': ['kilnmod-extra'], 'module-enable-specs': ['kilnmod:2'] }]));
  t.is(res.code, 1);
  t.is(res.doc.kind, 'DepsolveError');
  t.regex(res.doc.reason, /^There was a problem depsolving tool-user, kilnmod-extra: [\s\S]*kilnmod-tool-1:1\.0-1\.module_kilnmod1\.noarch is filtered out by modular filtering/);
  t.deepEqual(res.doc.details, { transaction: 1, packages: ['kilnmod-extra'] });
});

test('repo-ids hide every other repository from the transaction, dependencies included', async (t) => {
  const res = await solve(await wire([{ 'package-specs': ['multi-user'], 'repo-ids': ['base'] }, { 'package-specs': ['alt-user'] }]));
  t.is(res.code, 0, res.stderr);
  t.deepEqual(pkgs(res.doc), ['alt-user-0:1.0@base', 'altlib-ng-0:2.0@updates', 'multi-0:1.0@base', 'multi-user-0:1.0@base']);
  const only = await solve(await wire([{ 'package-specs': ['multi-user'], 'repo-ids': ['updates'] }]));
  t.is(only.doc.kind, 'MarkingErrors');
  t.deepEqual(only.doc.details, { transaction: 0, packages: ['multi-user'] });
});
