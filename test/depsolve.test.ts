/**
 * The depsolve client driving Kiln's own solver (libexec/kiln-depsolve-dnf) against real RPM
 * repositories built by test/helpers/rpm-repos.ts.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, chmodSync, existsSync, symlinkSync } from 'node:fs';
import { createServer as createNetServer, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  depsolve,
  cumulativePackages,
  DepsolveError,
  KILN_SOLVER,
  type DepsolveRequest,
  type DepsolveResult,
  type DepsolveOptions,
} from '../src/depsolve/index.js';
import { InvalidInputError, KilnError } from '../src/errors.js';
import { validate } from '../src/schemas.js';
import { standardRepos, serveDirectory, unreachableUrl, type StandardRepos } from './helpers/rpm-repos.js';

const scratch = mkdtempSync(path.join(os.tmpdir(), 'kiln-depsolve-test-'));
test.after.always(() => rmSync(scratch, { recursive: true, force: true }));

let counter = 0;
function options(extra: Partial<DepsolveOptions> = {}): DepsolveOptions {
  return { cacheDir: path.join(scratch, `cache-${counter++}`), solver: KILN_SOLVER, timeoutMs: 60_000, ...extra };
}

function request(repos: StandardRepos, transactions: DepsolveRequest['transactions'], extra: Partial<DepsolveRequest> = {}): DepsolveRequest {
  return {
    arch: 'x86_64',
    releasever: '43',
    repos: [
      { id: 'base', baseurl: [repos.base.baseurl] },
      { id: 'updates', baseurl: [repos.updates.baseurl] },
    ],
    transactions,
    ...extra,
  };
}

function names(result: DepsolveResult, i = 0): string[] {
  return result.transactions[i].packages.map((p) => p.name).sort();
}

async function waitFor(file: string): Promise<void> {
  for (let i = 0; i < 300 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 20));
}

function script(name: string, text: string): string {
  const file = path.join(scratch, name);
  writeFileSync(file, text);
  chmodSync(file, 0o755);
  return file;
}

test('a requires b requires c: the whole chain, with URLs and checksums of the real files', async (t) => {
  const repos = await standardRepos();
  const result = await depsolve(request(repos, [{ package_specs: ['chain-a'] }]), options());
  t.deepEqual(names(result), ['chain-a', 'chain-b', 'chain-c']);
  t.is(result.solver, 'dnf');
  t.is(result.api_version, 2);
  t.notThrows(() => validate('depsolve-result.schema', result));
  for (const p of result.transactions[0].packages) {
    t.is(p.repo_id, 'base');
    t.is(p.arch, 'noarch');
    t.is(p.epoch, 0);
    t.is(p.location, `noarch/${p.name}-1.0-1.noarch.rpm`);
    t.is(p.remote_location, `${repos.base.baseurl}/${p.location}`);
    const file = fileURLToPath(p.remote_location);
    const sha = createHash('sha256').update(readFileSync(file)).digest('hex');
    t.is(p.checksum, `sha256:${sha}`);
  }
  t.deepEqual(result.repos.map((r) => r.id), ['base']);
  t.deepEqual(result.repos[0].baseurl, [repos.base.baseurl]);
});

test('a virtual provide is satisfied by the package that provides it', async (t) => {
  const repos = await standardRepos();
  const result = await depsolve(request(repos, [{ package_specs: ['webapp'] }]), options());
  t.deepEqual(names(result), ['httpd-lite', 'webapp']);
  const direct = await depsolve(request(repos, [{ package_specs: ['webserver'] }]), options());
  t.deepEqual(names(direct), ['httpd-lite']);
});

test('two repos with different versions of a package: the highest wins', async (t) => {
  const repos = await standardRepos();
  const highest = await depsolve(request(repos, [{ package_specs: ['multi-user'] }]), options());
  t.like(highest.transactions[0].packages.find((p) => p.name === 'multi'), { version: '2.0', repo_id: 'updates' });
  t.deepEqual(highest.repos.map((r) => r.id), ['base', 'updates']);
});

test('repo_ids keeps a transaction to those repositories, dependencies included; the next transaction may use all', async (t) => {
  const repos = await standardRepos();
  const opts = options();
  const direct = await depsolve(request(repos, [{ package_specs: ['multi'], repo_ids: ['base'] }]), opts);
  t.like(direct.transactions[0].packages, [{ name: 'multi', version: '1.0', repo_id: 'base' }]);
  // As in osbuild's solver since 2a4c9d72 (osbuild 191): the other repositories' packages are hidden.
  const chained = await depsolve(request(repos, [{ package_specs: ['multi-user'], repo_ids: ['base'] }, { package_specs: ['alt-user'] }]), opts);
  t.like(chained.transactions[0].packages.find((p) => p.name === 'multi'), { version: '1.0', repo_id: 'base' });
  t.like(chained.transactions[1].packages.find((p) => p.name === 'altlib-ng'), { version: '2.0', repo_id: 'updates' });
  const err = await t.throwsAsync(depsolve(request(repos, [{ package_specs: ['multi-user'], repo_ids: ['updates'] }]), opts), { instanceOf: DepsolveError });
  t.like(err.details, { kind: 'MarkingErrors', packages: ['multi-user'], transaction: 0 });
});

test('an exclude forces the other candidate', async (t) => {
  const repos = await standardRepos();
  const opts = options();
  const newer = await depsolve(request(repos, [{ package_specs: ['alt-user'] }]), opts);
  t.deepEqual(names(newer), ['alt-user', 'altlib-ng']);
  const excluded = await depsolve(request(repos, [{ package_specs: ['alt-user'], exclude_specs: ['altlib-ng'] }]), opts);
  t.deepEqual(names(excluded), ['alt-user', 'altlib']);
  t.like(excluded.transactions[0].packages.find((p) => p.name === 'altlib'), { version: '1.0', repo_id: 'base' });
  // Excluding the only candidate leaves the requirement unsatisfiable.
  const err = await t.throwsAsync(
    depsolve(request(repos, [{ package_specs: ['multi-user'], exclude_specs: ['multi'] }]), opts),
    { instanceOf: DepsolveError },
  );
  t.is(err.kind, 'DepsolveError');
});

test('weak dependencies follow install_weak_deps', async (t) => {
  const repos = await standardRepos();
  const opts = options();
  const on = await depsolve(request(repos, [{ package_specs: ['weak-main'], install_weak_deps: true }]), opts);
  t.deepEqual(names(on), ['weak-extra', 'weak-main']);
  const off = await depsolve(request(repos, [{ package_specs: ['weak-main'], install_weak_deps: false }]), opts);
  t.deepEqual(names(off), ['weak-main']);
  const unset = await depsolve(request(repos, [{ package_specs: ['weak-main'] }]), opts);
  t.deepEqual(names(unset), ['weak-main']);
});

const chained = (repos: StandardRepos): DepsolveRequest =>
  request(repos, [
    { name: 'build', package_specs: ['chain-a'] },
    { name: 'os', package_specs: ['webapp', 'chain-b'] },
  ]);

function checkChained(t: import('ava').ExecutionContext, result: DepsolveResult): void {
  t.is(result.transactions.length, 2);
  t.is(result.transactions[0].name, 'build');
  t.is(result.transactions[1].name, 'os');
  t.deepEqual(names(result, 0), ['chain-a', 'chain-b', 'chain-c']);
  // chain-b is already there from the first transaction, so the second only adds the web bits.
  t.deepEqual(names(result, 1), ['httpd-lite', 'webapp']);
  t.deepEqual(
    cumulativePackages(result).map((p) => p.name).sort(),
    ['chain-a', 'chain-b', 'chain-c', 'httpd-lite', 'webapp'],
  );
  t.deepEqual(cumulativePackages(result, 0).map((p) => p.name).sort(), ['chain-a', 'chain-b', 'chain-c']);
}

test('chained transactions: the second on top of the first, as disjoint lists (protocol v2)', async (t) => {
  const result = await depsolve(chained(await standardRepos()), options({ apiVersion: 2 }));
  t.is(result.api_version, 2);
  checkChained(t, result);
});

test('chained transactions through protocol v1 (Kiln solver marks each transaction’s packages)', async (t) => {
  const result = await depsolve(chained(await standardRepos()), options({ apiVersion: 1 }));
  t.is(result.api_version, 1);
  checkChained(t, result);
});

test('chained transactions with a plain v1 solver: earlier sets come from solving each prefix', async (t) => {
  const log = path.join(scratch, 'plain-v1.log');
  // A real solver whose v1 answer lacks Kiln's extension, like osbuild's.
  const wrapper = script(
    'plain-v1-solver',
    `#!/usr/bin/python3
import json, subprocess, sys
req = sys.stdin.read()
with open(${JSON.stringify(log)}, "a") as f:
    f.write(str(len(json.loads(req)["arguments"]["transactions"])) + "\\n")
res = subprocess.run([${JSON.stringify(KILN_SOLVER)}], input=req, capture_output=True, text=True)
doc = json.loads(res.stdout)
doc.pop("kiln_transactions", None)
sys.stdout.write(json.dumps(doc) + "\\n")
sys.exit(res.returncode)
`,
  );
  const result = await depsolve(chained(await standardRepos()), options({ apiVersion: 1, solver: wrapper }));
  t.is(result.api_version, 1);
  checkChained(t, result);
  t.deepEqual(readFileSync(log, 'utf8').trim().split('\n'), ['2', '1']);
});

test('a solver that rejects api_version 2 is asked again with v1', async (t) => {
  const wrapper = script(
    'v1-only-solver',
    `#!/usr/bin/python3
import json, os, sys
req = json.loads(sys.stdin.read())
if req.get("api_version", 1) != 1:
    print(json.dumps({"kind": "InvalidRequest", "reason": "Invalid api_version"}))
    sys.exit(1)
r, w = os.pipe()
os.write(w, json.dumps(req).encode()); os.close(w)
os.dup2(r, 0)
os.execv(${JSON.stringify(KILN_SOLVER)}, [${JSON.stringify(KILN_SOLVER)}])
`,
  );
  const result = await depsolve(request(await standardRepos(), [{ package_specs: ['chain-b'] }]), options({ solver: wrapper }));
  t.is(result.api_version, 1);
  t.deepEqual(names(result), ['chain-b', 'chain-c']);
});

test('a missing package: MarkingErrors naming it', async (t) => {
  const repos = await standardRepos();
  const err = await t.throwsAsync(depsolve(request(repos, [{ package_specs: ['chain-a', 'no-such-package'] }]), options()), {
    instanceOf: DepsolveError,
  });
  t.is(err.code, 'KILN_DEPSOLVE');
  t.is(err.kind, 'MarkingErrors');
  t.deepEqual(err.details?.packages, ['no-such-package']);
  t.regex(err.message, /no-such-package/);
  t.is(err.details?.kind, 'MarkingErrors');
  t.regex(String(err.details?.stderr), /no-such-package/);
});

test('a missing package in the second transaction names the transaction', async (t) => {
  const repos = await standardRepos();
  const err = await t.throwsAsync(
    depsolve(request(repos, [{ name: 'build', package_specs: ['chain-a'] }, { name: 'os', package_specs: ['ghost'] }]), options()),
    { instanceOf: DepsolveError },
  );
  t.like(err.details, { kind: 'MarkingErrors', packages: ['ghost'], transaction: 1, transaction_name: 'os' });
});

test('an unreachable repository: RepoError naming the repository and its URL', async (t) => {
  const repos = await standardRepos();
  const url = await unreachableUrl('/broken');
  const req = request(repos, [{ package_specs: ['chain-a'] }]);
  req.repos.push({ id: 'broken', baseurl: [url] });
  const err = await t.throwsAsync(depsolve(req, options()), { instanceOf: DepsolveError });
  t.is(err.kind, 'RepoError');
  t.is(err.details?.repo_id, 'broken');
  t.deepEqual(err.details?.urls, [url]);
  t.regex(err.message, /'broken'/);
  t.true(err.message.includes(url));
});

test('unsatisfiable dependencies: DepsolveError naming the missing requirement', async (t) => {
  const repos = await standardRepos();
  const err = await t.throwsAsync(depsolve(request(repos, [{ package_specs: ['broken-dep'] }]), options()), {
    instanceOf: DepsolveError,
  });
  t.is(err.kind, 'DepsolveError');
  t.regex(err.message, /not-provided-anywhere/);
  const conflict = await t.throwsAsync(depsolve(request(repos, [{ package_specs: ['conflict-x', 'conflict-y'] }]), options()), {
    instanceOf: DepsolveError,
  });
  t.is(conflict.kind, 'DepsolveError');
  t.regex(conflict.message, /conflict/);
});

test('a foreign architecture resolves that architecture’s packages', async (t) => {
  const repos = await standardRepos();
  const opts = options();
  const arm = await depsolve(request(repos, [{ package_specs: ['archtool'] }], { arch: 'aarch64' }), opts);
  t.deepEqual(
    arm.transactions[0].packages.map((p) => `${p.name}.${p.arch}`).sort(),
    ['archlib.aarch64', 'archtool.aarch64'],
  );
  const x86 = await depsolve(request(repos, [{ package_specs: ['archtool'] }], { arch: 'x86_64' }), opts);
  t.deepEqual(
    x86.transactions[0].packages.map((p) => `${p.name}.${p.arch}`).sort(),
    ['archlib.x86_64', 'archtool.x86_64'],
  );
  // An explicit aarch64 package cannot be installed on x86_64.
  const err = await t.throwsAsync(
    depsolve(request(repos, [{ package_specs: ['archtool.aarch64'] }], { arch: 'x86_64' }), opts),
    { instanceOf: DepsolveError },
  );
  t.regex(err.message, /archtool/);
});

test('repositories served over HTTP on loopback', async (t) => {
  const repos = await standardRepos();
  const root = path.dirname(repos.base.path);
  const server = await serveDirectory(root);
  t.teardown(() => server.close());
  const baseurl = `${server.url}/${path.basename(repos.base.path)}/`;
  const req: DepsolveRequest = {
    arch: 'x86_64',
    releasever: '43',
    repos: [{ id: 'web', name: 'Web repo', baseurl: [baseurl], gpgcheck: false, sslverify: true }],
    transactions: [{ package_specs: ['webapp'] }],
  };
  for (const apiVersion of [1, 2] as const) {
    const result = await depsolve(req, options({ apiVersion }));
    t.deepEqual(names(result), ['httpd-lite', 'webapp']);
    for (const p of result.transactions[0].packages) t.true(p.remote_location.startsWith(`${baseurl}noarch/`), p.remote_location);
    t.like(result.repos[0], { id: 'web', name: 'Web repo', baseurl: [baseurl], gpgcheck: false, sslverify: true, gpgkeys: [] });
  }
  t.true(server.requests.some((r) => r.endsWith('/repodata/repomd.xml')));
});

test('$releasever and $basearch are substituted in repository URLs', async (t) => {
  const repos = await standardRepos();
  // Point the URL at the repo's parent and let the substitutions complete it.
  const parent = path.dirname(repos.base.path);
  const name = path.basename(repos.base.path);
  const link = path.join(scratch, `rel-43-x86_64`);
  if (!existsSync(link)) symlinkSync(path.join(parent, name), link);
  const req: DepsolveRequest = {
    arch: 'x86_64',
    releasever: '43',
    repos: [{ id: 'subst', baseurl: [`file://${scratch}/rel-$releasever-$basearch`] }],
    transactions: [{ package_specs: ['chain-c'] }],
  };
  const result = await depsolve(req, options());
  t.deepEqual(names(result), ['chain-c']);
  t.true(result.transactions[0].packages[0].remote_location.includes('/rel-43-x86_64/'), result.transactions[0].packages[0].remote_location);
});

test('invalid requests are rejected before the solver runs, naming the field', async (t) => {
  const repos = await standardRepos();
  const noTransactions = { ...request(repos, [{ package_specs: ['chain-a'] }]), transactions: [] } as unknown as DepsolveRequest;
  const e1 = await t.throwsAsync(depsolve(noTransactions, options()), { instanceOf: InvalidInputError });
  t.is(e1.field, 'depsolve.transactions');
  const noUrl = request(repos, [{ package_specs: ['chain-a'] }]);
  noUrl.repos.push({ id: 'empty' });
  const e2 = await t.throwsAsync(depsolve(noUrl, options()), { instanceOf: InvalidInputError });
  t.is(e2.field, 'depsolve.repos[2].baseurl');
  const badRepoId = request(repos, [{ package_specs: ['chain-a'], repo_ids: ['nope'] }]);
  const e3 = await t.throwsAsync(depsolve(badRepoId, options()), { instanceOf: InvalidInputError });
  t.is(e3.field, 'depsolve.transactions[0].repo_ids[0]');
});

test('a solver that hangs is killed at the timeout', async (t) => {
  const pidFile = path.join(scratch, 'hang.pid');
  const hang = script('hang-solver', `#!/bin/sh\necho $$ > ${pidFile}\necho starting >&2\nsleep 30\n`);
  const started = Date.now();
  const err = await t.throwsAsync(
    depsolve(request(await standardRepos(), [{ package_specs: ['chain-a'] }]), options({ solver: hang, timeoutMs: 2000, killGraceMs: 500 })),
    { instanceOf: DepsolveError },
  );
  t.is(err.kind, 'Timeout');
  // well before the solver's own `sleep 30` would end (generous: loaded CI machines are slow)
  t.true(Date.now() - started < 20_000);
  t.regex(String(err.details?.stderr), /starting/);
  t.throws(() => process.kill(Number(readFileSync(pidFile, 'utf8')), 0));
});

test('aborting kills the solver and rejects with KILN_JOB_CANCELED', async (t) => {
  const pidFile = path.join(scratch, 'abort.pid');
  const hang = script('abort-solver', `#!/bin/sh\necho $$ > ${pidFile}\nsleep 30 &\nwait\n`);
  const controller = new AbortController();
  const pending = depsolve(request(await standardRepos(), [{ package_specs: ['chain-a'] }]), options({ solver: hang, signal: controller.signal }));
  await waitFor(pidFile);
  controller.abort(new Error('compose canceled'));
  const err = await t.throwsAsync(pending, { instanceOf: KilnError });
  t.is(err.code, 'KILN_JOB_CANCELED');
  t.throws(() => process.kill(Number(readFileSync(pidFile, 'utf8')), 0));

  const already = new AbortController();
  already.abort();
  const err2 = await t.throwsAsync(depsolve(request(await standardRepos(), [{ package_specs: ['chain-a'] }]), options({ signal: already.signal })));
  t.is((err2 as KilnError).code, 'KILN_JOB_CANCELED');
});

test('a solver that crashes without an error object: stderr is kept in the error', async (t) => {
  const crash = script('crash-solver', '#!/bin/sh\ncat >/dev/null\necho "Traceback: something broke" >&2\nexit 3\n');
  const err = await t.throwsAsync(depsolve(request(await standardRepos(), [{ package_specs: ['chain-a'] }]), options({ solver: crash })), {
    instanceOf: DepsolveError,
  });
  t.is(err.kind, 'SolverCrashed');
  t.is(err.details?.exit_code, 3);
  t.regex(err.message, /something broke/);
  t.regex(String(err.details?.stderr), /Traceback: something broke/);

  const missing = await t.throwsAsync(
    depsolve(request(await standardRepos(), [{ package_specs: ['chain-a'] }]), options({ solver: path.join(scratch, 'does-not-exist') })),
    { instanceOf: DepsolveError },
  );
  t.is(missing.kind, 'SolverNotRunnable');
});

test('aborting the real solver while it waits on a repository stops it and leaves no temporary files', async (t) => {
  // A server that accepts connections and never answers.
  const sockets: Socket[] = [];
  const server = createNetServer((s) => sockets.push(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const { port } = server.address() as { port: number };
  const tmp = mkdtempSync(path.join(scratch, 'tmpdir-'));
  const controller = new AbortController();
  const req: DepsolveRequest = {
    arch: 'x86_64',
    repos: [{ id: 'silent', baseurl: [`http://127.0.0.1:${port}/repo`] }],
    transactions: [{ package_specs: ['chain-a'] }],
  };
  const started = Date.now();
  const pending = depsolve(req, options({ signal: controller.signal, env: { ...process.env, TMPDIR: tmp }, killGraceMs: 3000 }));
  await new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if (sockets.length > 0) {
        clearInterval(check);
        resolve();
      }
    }, 20);
  });
  controller.abort();
  const err = await t.throwsAsync(pending, { instanceOf: KilnError });
  t.is(err.code, 'KILN_JOB_CANCELED');
  t.true(Date.now() - started < 10_000);
  t.deepEqual(readdirSync(tmp), []);
});

test('parallel solvers sharing one cache directory over HTTP all succeed alike', async (t) => {
  const repos = await standardRepos();
  const server = await serveDirectory(path.dirname(repos.base.path));
  t.teardown(() => server.close());
  const req = (): DepsolveRequest => ({
    arch: 'x86_64',
    repos: [
      { id: 'base', baseurl: [`${server.url}/${path.basename(repos.base.path)}`] },
      { id: 'updates', baseurl: [`${server.url}/${path.basename(repos.updates.path)}`] },
    ],
    transactions: [{ package_specs: ['chain-a', 'multi-user', 'webapp'] }],
  });
  const cacheDir = path.join(scratch, 'shared-cache');
  const results = await Promise.all([0, 1, 2, 3].map(() => depsolve(req(), options({ cacheDir }))));
  for (const r of results) t.deepEqual(r, results[0]);
  t.deepEqual(names(results[0]), ['chain-a', 'chain-b', 'chain-c', 'httpd-lite', 'multi', 'multi-user', 'webapp']);
});
