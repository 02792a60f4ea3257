/**
 * Wire-format details of src/depsolve/protocol.ts: requests for v1 and v2, responses shaped as
 * osbuild's solver writes them (reference/osbuild.md §4), and its error objects, which carry
 * no `details`, so the client has to find the package or repository in `reason`.
 */
import test from 'ava';
import { parseResponse, solverFailure, toWireRequest, DepsolveError } from '../src/depsolve/protocol.js';
import { accessSync, constants, existsSync } from 'node:fs';
import { defaultSolverCommand, KILN_SOLVER, OSBUILD_SOLVER, type DepsolveRequest } from '../src/depsolve/index.js';

const request: DepsolveRequest = {
  arch: 'aarch64',
  releasever: '43',
  module_platform_id: 'platform:f43',
  repos: [
    { id: 'fedora', metalink: 'https://mirrors.example/metalink?repo=fedora-43&arch=aarch64', gpgcheck: true, gpgkeys: ['-----BEGIN PGP PUBLIC KEY BLOCK-----\nx'] },
    { id: 'local', baseurl: ['http://127.0.0.1:1/repo'] },
  ],
  transactions: [
    { name: 'build', package_specs: ['bash'], exclude_specs: ['dracut-config-rescue'], install_weak_deps: true },
    { name: 'os', package_specs: ['@core', 'kernel'], repo_ids: ['fedora'] },
  ],
};

const ctx = { request, stderr: 'some stderr', exitCode: 1, solver: '/usr/libexec/osbuild-depsolve-dnf' };
const sha = 'a'.repeat(64);

test('v1 and v2 requests use the protocol’s key names', (t) => {
  const v1 = toWireRequest(request, 1, '/cache') as any;
  t.like(v1, { api_version: 1, command: 'depsolve', arch: 'aarch64', releasever: '43', cachedir: '/cache', module_platform_id: 'platform:f43' });
  t.deepEqual(v1.arguments.transactions, [
    { 'package-specs': ['bash'], 'exclude-specs': ['dracut-config-rescue'], install_weak_deps: true },
    { 'package-specs': ['@core', 'kernel'], 'exclude-specs': [], 'repo-ids': ['fedora'], install_weak_deps: false },
  ]);
  t.deepEqual(v1.arguments.repos[0].gpgkeys, ['-----BEGIN PGP PUBLIC KEY BLOCK-----\nx']);
  t.false('gpgkey' in v1.arguments.repos[0]);
  const v2 = toWireRequest(request, 2, '/cache', request.transactions.slice(0, 1)) as any;
  t.is(v2.api_version, 2);
  t.deepEqual(v2.arguments.repos[0].gpgkey, ['-----BEGIN PGP PUBLIC KEY BLOCK-----\nx']);
  t.false('gpgkeys' in v2.arguments.repos[0]);
  t.is(v2.arguments.transactions.length, 1);
  t.is((toWireRequest({ ...request, releasever: undefined }, 1, '/c') as any).releasever, null);
});

test('an osbuild v1 response: the last transaction’s full set', (t) => {
  const doc = {
    solver: 'dnf',
    packages: [
      {
        name: 'bash', epoch: 0, version: '5.2.37', release: '1.fc43', arch: 'aarch64', repo_id: 'fedora',
        path: 'Packages/b/bash-5.2.37-1.fc43.aarch64.rpm',
        remote_location: 'https://dl.example/fedora/Packages/b/bash-5.2.37-1.fc43.aarch64.rpm',
        checksum: `sha256:${sha}`,
      },
    ],
    repos: {
      fedora: {
        id: 'fedora', name: 'fedora', baseurl: null, metalink: 'https://mirrors.example/metalink', mirrorlist: null,
        gpgcheck: true, repo_gpgcheck: false, gpgkeys: ['KEY'], sslverify: true, sslcacert: null, sslclientkey: null, sslclientcert: null,
      },
    },
    modules: {},
  };
  const parsed = parseResponse(doc, 2);
  t.is(parsed.apiVersion, 1);
  t.is(parsed.transactions, undefined);
  t.deepEqual(parsed.packages, [
    {
      name: 'bash', epoch: 0, version: '5.2.37', release: '1.fc43', arch: 'aarch64', repo_id: 'fedora',
      location: 'Packages/b/bash-5.2.37-1.fc43.aarch64.rpm',
      remote_location: 'https://dl.example/fedora/Packages/b/bash-5.2.37-1.fc43.aarch64.rpm',
      checksum: `sha256:${sha}`,
    },
  ]);
  t.deepEqual(parsed.repos, [
    { id: 'fedora', name: 'fedora', metalink: 'https://mirrors.example/metalink', gpgcheck: true, repo_gpgcheck: false, gpgkeys: ['KEY'], sslverify: true },
  ]);
});

test('an osbuild v2 response: disjoint lists, structured checksum, first remote location', (t) => {
  const pkg = (name: string) => ({
    name, epoch: 1, version: '1', release: '1', arch: 'noarch', repo_id: 'local', location: `Packages/${name}.rpm`,
    remote_locations: [`http://127.0.0.1:1/repo/Packages/${name}.rpm`, 'http://mirror2/x.rpm'],
    checksum: { algorithm: 'sha256', value: sha }, header_checksum: null, license: 'MIT', files: [], provides: [],
  });
  const doc = {
    solver: 'dnf5',
    transactions: [[pkg('a')], [pkg('b'), pkg('c')]],
    repos: { local: { id: 'local', name: null, baseurl: ['http://127.0.0.1:1/repo'], gpgcheck: false, repo_gpgcheck: false, gpgkey: [], sslverify: false, rhsm: false } },
    modules: {},
  };
  const parsed = parseResponse(doc, 2);
  t.is(parsed.apiVersion, 2);
  t.is(parsed.solver, 'dnf5');
  t.deepEqual(parsed.transactions!.map((l) => l.map((p) => p.name)), [['a'], ['b', 'c']]);
  t.like(parsed.transactions![1][0], { epoch: 1, location: 'Packages/b.rpm', remote_location: 'http://127.0.0.1:1/repo/Packages/b.rpm', checksum: `sha256:${sha}` });
  t.deepEqual(parsed.repos, [{ id: 'local', baseurl: ['http://127.0.0.1:1/repo'], gpgcheck: false, repo_gpgcheck: false, gpgkeys: [], sslverify: false }]);
  t.throws(() => parseResponse(doc, 3), { instanceOf: DepsolveError, message: /2 transactions for 3 requested/ });
});

test('malformed responses are DepsolveErrors of kind MalformedResponse', (t) => {
  const base = { name: 'a', epoch: 0, version: '1', release: '1', arch: 'noarch', repo_id: 'r', path: 'a.rpm', remote_location: 'file:///a.rpm' };
  for (const doc of [
    [],
    { solver: 'dnf' },
    { packages: [{ ...base }] },
    { packages: [{ ...base, checksum: 'sha256:XYZ' }] },
    { packages: [{ ...base, checksum: `sha256:${sha}`, epoch: -1 }] },
    { transactions: [[{ ...base, location: 'a.rpm', remote_locations: [], checksum: { algorithm: 'sha256', value: sha } }]] },
  ]) {
    const err = t.throws(() => parseResponse(doc, 1), { instanceOf: DepsolveError });
    t.is(err.kind, 'MalformedResponse');
    t.is(err.code, 'KILN_DEPSOLVE');
  }
});

test('osbuild’s error objects (no details): the missing package or failing repository is found in reason', (t) => {
  const dnf4 = solverFailure({ kind: 'MarkingErrors', reason: 'Problems in request:\nmissing packages: foo, bar-baz' }, ctx);
  t.is(dnf4.kind, 'MarkingErrors');
  t.deepEqual(dnf4.details?.packages, ['foo', 'bar-baz']);
  t.is(dnf4.message, 'depsolve: no package matches foo, bar-baz');
  t.is(dnf4.details?.stderr, 'some stderr');

  // osbuild 191's osbuild-depsolve-dnf, word for word, for `@ghost-group` (and `ghostpkg`) in an empty repository
  const group = solverFailure(
    { kind: 'MarkingErrors', reason: 'Error occurred when marking packages for installation: Problems in request:\nmissing groups or modules: @ghost-group' },
    ctx,
  );
  t.deepEqual(group.details?.packages, ['@ghost-group']);
  t.is(group.message, 'depsolve: no package matches @ghost-group');
  const both = solverFailure(
    {
      kind: 'MarkingErrors',
      reason: 'Error occurred when marking packages for installation: Problems in request:\nmissing packages: ghostpkg\nmissing groups or modules: @ghost-group',
    },
    ctx,
  );
  t.deepEqual(both.details?.packages, ['ghostpkg', '@ghost-group']);

  const dnf5 = solverFailure({ kind: 'MarkingErrors', reason: 'Failed to resolve: No match for argument: ghost\nNo match for argument: spook' }, ctx);
  t.deepEqual(dnf5.details?.packages, ['ghost', 'spook']);

  const repo = solverFailure(
    { kind: 'RepoError', reason: "There was a problem reading a repository: Failed to download metadata for repo 'local': Cannot download repomd.xml" },
    ctx,
  );
  t.is(repo.details?.repo_id, 'local');
  t.deepEqual(repo.details?.urls, ['http://127.0.0.1:1/repo']);
  t.regex(repo.message, /cannot read repository 'local' \(http:\/\/127\.0\.0\.1:1\/repo\)/);

  const repo5 = solverFailure({ kind: 'RepoError', reason: 'Failed to download metadata (metalink: "x") for repository "fedora"' }, ctx);
  t.is(repo5.details?.repo_id, 'fedora');

  const unsat = solverFailure({ kind: 'DepsolveError', reason: 'There was a problem depsolving bash: nothing provides libfoo' }, ctx);
  t.regex(unsat.message, /nothing provides libfoo/);

  const crash = solverFailure({ kind: 'OSError', reason: 'disk full', traceback: 'Traceback …' }, ctx);
  t.is(crash.kind, 'OSError');
  t.is(crash.details?.traceback, 'Traceback …');

  const kiln = solverFailure({ kind: 'MarkingErrors', reason: 'whatever', details: { packages: ['x'], transaction: 1 } }, ctx);
  t.like(kiln.details, { packages: ['x'], transaction: 1, transaction_name: 'os' });
});

test('the default solver is osbuild’s when installed, else Kiln’s own executable', (t) => {
  t.notThrows(() => accessSync(KILN_SOLVER, constants.X_OK));
  t.true(KILN_SOLVER.endsWith('/libexec/kiln-depsolve-dnf'));
  t.deepEqual(defaultSolverCommand(), [existsSync(OSBUILD_SOLVER) ? OSBUILD_SOLVER : KILN_SOLVER]);
});

// osbuild 191's osbuild-depsolve-dnf for `@kilnmod:2/full` on test/helpers/rpm-repos.ts' modularRepo (failsafe YAML shortened)
const osbuildModules = {
  kilnmod: {
    'module-file': { path: '/etc/dnf/modules.d/kilnmod.conf', data: { name: 'kilnmod', stream: '2', profiles: ['full', 'default'], state: 'enabled' } },
    'failsafe-file': { data: '---\ndocument: modulemd\nversion: 2\ndata:\n  name: kilnmod\n  stream: "2"\n...\n', path: '/var/lib/dnf/modulefailsafe/kilnmod:2' },
  },
};

test('modules: taken as the solver gives them, sorted by name, profiles sorted (osbuild lists them from a set)', (t) => {
  const doc = { solver: 'dnf', packages: [], repos: {}, modules: { zeta: { ...structuredClone(osbuildModules.kilnmod) }, ...structuredClone(osbuildModules) } };
  doc.modules.zeta['module-file'].data.name = 'zeta';
  doc.modules.zeta['failsafe-file'].path = '/var/lib/dnf/modulefailsafe/zeta:2';
  const parsed = parseResponse(doc, 1);
  t.deepEqual(Object.keys(parsed.modules), ['kilnmod', 'zeta']);
  t.deepEqual(parsed.modules.kilnmod, {
    'module-file': { path: '/etc/dnf/modules.d/kilnmod.conf', data: { name: 'kilnmod', stream: '2', profiles: ['default', 'full'], state: 'enabled' } },
    'failsafe-file': { path: '/var/lib/dnf/modulefailsafe/kilnmod:2', data: osbuildModules.kilnmod['failsafe-file'].data },
  });
  t.deepEqual(parseResponse({ solver: 'dnf', packages: [], repos: {}, modules: null }, 1).modules, {});
  t.deepEqual(parseResponse({ solver: 'dnf', packages: [], repos: {} }, 1).modules, {});
});

test('modules that would write outside dnf’s failsafe directory, or do not say what they are, are malformed', (t) => {
  const bad = (edit: (m: any) => void) => {
    const modules: any = structuredClone(osbuildModules);
    edit(modules.kilnmod);
    return { solver: 'dnf', packages: [], repos: {}, modules };
  };
  for (const [what, doc] of [
    ['path outside', bad((m) => (m['failsafe-file'].path = '/etc/passwd'))],
    ['path ..', bad((m) => (m['failsafe-file'].path = '/var/lib/dnf/modulefailsafe/..'))],
    ['path deeper', bad((m) => (m['failsafe-file'].path = '/var/lib/dnf/modulefailsafe/a/b'))],
    ['no failsafe data', bad((m) => delete m['failsafe-file'].data)],
    ['name differs from key', bad((m) => (m['module-file'].data.name = 'other'))],
    ['stream with a slash', bad((m) => (m['module-file'].data.stream = '2/x'))],
    ['profiles not names', bad((m) => (m['module-file'].data.profiles = [1]))],
    ['not an object', { solver: 'dnf', packages: [], repos: {}, modules: [] }],
  ] as const) {
    const err = t.throws(() => parseResponse(doc, 1), { instanceOf: DepsolveError }, what);
    t.is(err?.kind, 'MalformedResponse', what);
  }
});

test('a module stream the solver cannot enable is named as a module stream (osbuild’s words and Kiln’s details)', (t) => {
  const withModules: DepsolveRequest = { ...request, transactions: [request.transactions[0], { ...request.transactions[1], module_enable_specs: ['kilnmod:9', 'othermod:stable'] }] };
  t.deepEqual((toWireRequest(withModules, 2, '/c') as any).arguments.transactions[1]['module-enable-specs'], ['kilnmod:9', 'othermod:stable']);
  const c = { ...ctx, request: withModules };
  // osbuild 191, word for word
  const real = solverFailure({ kind: 'MarkingErrors', reason: 'Error occurred when marking packages for installation: Problems in request:\nmissing groups or modules: kilnmod:9' }, c);
  t.deepEqual(real.details?.modules, ['kilnmod:9']);
  t.false('packages' in real.details!);
  t.is(real.message, 'depsolve: no module stream matches kilnmod:9');
  const kiln = solverFailure({ kind: 'MarkingErrors', reason: 'whatever', details: { transaction: 1, modules: ['kilnmod:9'] } }, c);
  t.like(kiln.details, { modules: ['kilnmod:9'], transaction: 1, transaction_name: 'os' });
  t.is(kiln.message, 'depsolve: no module stream matches kilnmod:9');
  const both = solverFailure({ kind: 'MarkingErrors', reason: 'Problems in request:\nmissing packages: ghost\nmissing groups or modules: kilnmod:9' }, c);
  t.is(both.message, 'depsolve: no module stream matches kilnmod:9; no package matches ghost');
});
