/**
 * Starts what koji-plugin/tests/test_e2e.py needs and prints one JSON line describing it:
 *
 *   node --import tsx test/helpers/kiln-for-python.ts
 *
 * - a database: cloned from the test template (KILN_TEST_PG_ADMIN_URL, as `npm test` sets),
 *   or, when run alone, an embedded Postgres of its own, migrated;
 * - the dev hub (in this process, Kiln's hub plugin call enabled) with users `kiln` (CG access)
 *   and `kojiadmin` (admin), the build host `kojibuilder` (arches x86_64 aarch64 s390x, channels
 *   default and image), tags `f43-build` (those arches, a repo, fedora-release-43 tagged: its
 *   distribution) and `f43-candidate` (packages fedora-guest, Fedora-Cloud, Fedora-Minimal, Fedora-bootc, Fedora-bootc-installer),
 *   target `f43-candidate`; tag `f43-stale-build` (x86_64, fedora-release-43 tagged after its repo
 *   was made, all of it two hours ago: a stale repo) and its target `f43-stale`; tagBuild subtasks
 *   run at once (the dev hub's default);
 * - a container registry on loopback (Debian's docker-registry) holding a bootable container
 *   (`bootc_ref`, and `bootc_installer_ref` an installer container), which Kiln's skopeo treats as an insecure registry;
 * - `kiln serve` (bin/kiln.js) with bearer-token auth, the osbuild stand-in failing every aarch64
 *   build (a failable arch that fails), a zero-time solver, and workers for x86_64 and aarch64
 *   only (so an s390x compose stays unfinished until canceled).
 *
 * Stops everything on SIGTERM/SIGINT or when stdin closes.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startDevHub } from '../../src/devhub/index.js';
import { startEmbeddedPostgres } from '../../src/db/embedded.js';
import { migrate } from '../../src/db/migrate.js';
import { freePort } from './net.js';
import { serveDirectory } from './rpm-repos.js';
import { startRegistry } from './registry.js';
import { BOOTC_LAYERS, INSTALLER_LAYERS, insecureRegistrySkopeo } from './bootc.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const TOKEN = 'koji-builder-token-0123456789abcdef';

const dir = mkdtempSync(path.join(os.tmpdir(), 'kiln-for-python-'));
const cleanups: Array<() => Promise<unknown> | unknown> = [];
let stopping: Promise<never> | undefined;

/** Runs the cleanups once (later calls wait for the same run), then exits. */
function stop(code = 0): Promise<never> {
  stopping ??= (async () => {
    for (const c of cleanups.reverse()) await Promise.resolve().then(c).catch((err) => process.stderr.write(`cleanup: ${String(err)}\n`));
    rmSync(dir, { recursive: true, force: true });
    process.exit(code);
  })();
  return stopping;
}
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
process.stdin.on('end', () => void stop());
process.stdin.on('close', () => void stop());
process.stdin.resume();

async function database(): Promise<string> {
  const admin = process.env.KILN_TEST_PG_ADMIN_URL;
  if (admin) {
    const name = `kiln_py_${process.pid}_${Date.now().toString(36)}`;
    const c = new pg.Client({ connectionString: admin });
    await c.connect();
    for (let attempt = 0; ; attempt++) {
      try {
        await c.query(`CREATE DATABASE ${name} TEMPLATE ${process.env.KILN_TEST_PG_TEMPLATE ?? 'kiln_template'}`);
        break;
      } catch (err) {
        if ((err as { code?: string }).code !== '55006' || attempt > 50) throw err;
        await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
      }
    }
    await c.end();
    cleanups.push(async () => {
      const d = new pg.Client({ connectionString: admin });
      await d.connect();
      await d.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await d.end();
    });
    return admin.replace(/\/postgres$/, `/${name}`);
  }
  const server = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), port: await freePort(), persistent: false });
  cleanups.push(() => server.stop());
  await migrate(server.url);
  return server.url;
}

async function main(): Promise<void> {
  const dbUrl = await database();
  const hub = await startDevHub({ dir: path.join(dir, 'hub'), plugins: ['kiln'] });
  cleanups.push(() => hub.close());
  await hub.createUser({ name: 'kiln', password: 'kiln-secret' });
  await hub.grantCGAccess('kiln', 'kiln');
  await hub.createUser({ name: 'kojiadmin', password: 'admin-secret', admin: true });
  await hub.createHost({ name: 'kojibuilder', password: 'builder-secret', arches: ['x86_64', 'aarch64', 's390x'], channels: ['default', 'image'] });
  await hub.createTag('f43-build', [], { arches: 'x86_64 aarch64 s390x' });
  await hub.createTag('f43-candidate', ['fedora-guest', 'Fedora-Cloud', 'Fedora-Minimal', 'Fedora-bootc', 'Fedora-bootc-installer']);
  await hub.createBuildTarget('f43-candidate', 'f43-build', 'f43-candidate');
  const release = await hub.createBuild({ name: 'fedora-release', version: '43', release: '0.23' });
  await hub.tagBuild('f43-build', release);
  await hub.createRepo('f43-build');
  // a build tag whose repo is older than its last change, and that change older than RepoLag:
  // kojid's getRepo finds it stale and waits (waitrepo) for the new repo the dev hub's kojira makes
  await hub.createTag('f43-stale-build', [], { arches: 'x86_64' });
  await hub.createBuildTarget('f43-stale', 'f43-stale-build', 'f43-candidate');
  await hub.createRepo('f43-stale-build');
  await hub.tagBuild('f43-stale-build', release);
  await hub.ageEvents(2 * 3600);
  // kojid's topurl: the hub's top directory over HTTP
  const topurl = await serveDirectory(hub.dir);
  cleanups.push(() => topurl.close());

  // bootc images: the container Kiln's depsolve job reads and the stand-in's skopeo source pulls
  const registry = await startRegistry();
  cleanups.push(() => registry.stop());
  await registry.pushLayers('fedora/fedora-bootc', '42', BOOTC_LAYERS);
  // and a bootc installer's: anaconda's container (a bootable one with a kernel)
  await registry.pushLayers('fedora/anaconda-bootc', '42', INSTALLER_LAYERS);
  const skopeoBin = insecureRegistrySkopeo(dir, registry.host);

  writeFileSync(path.join(dir, 'koji-password'), 'kiln-secret\n');
  writeFileSync(path.join(dir, 'tokens'), `koji-builder ${TOKEN}\n`);
  const port = await freePort();
  const logFile = path.join(dir, 'kiln.log');
  const serve = spawn(process.execPath, [path.join(root, 'bin/kiln.js'), 'serve'], {
    env: {
      ...process.env,
      PATH: `${skopeoBin}:${process.env.PATH}`,
      KILN_CONFIG: '',
      KILN_STATE_DIR: path.join(dir, 'state'),
      KILN_DATABASE_URL: dbUrl,
      KILN_LISTEN_ADDRESS: '127.0.0.1',
      KILN_LISTEN_PORT: String(port),
      KILN_LOG_LEVEL: process.env.KILN_LOG_LEVEL ?? 'info',
      KILN_API_TOKENS_FILE: path.join(dir, 'tokens'),
      // no s390x worker: an s390x image never finishes, which the cancel tests use
      KILN_WORKERS_ARCHES: 'x86_64,aarch64',
      // every aarch64 build fails: a failable arch that fails beside one that builds
      KILN_STANDIN_FAIL_ARCH: 'aarch64',
      KILN_KOJI_HUBS: JSON.stringify([{ url: hub.url, auth: 'password', user: 'kiln', password_file: path.join(dir, 'koji-password') }]),
      KILN_OSBUILD_BINARY: path.join(root, 'test/osbuild-standin/osbuild.mjs'),
      KILN_DEPSOLVE_SOLVER: path.join(root, 'bench/fixtures/zero-depsolve.mjs'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(logFile);
  serve.stdout!.pipe(log);
  serve.stderr!.pipe(log);
  const exited = new Promise((r) => serve.on('exit', r));
  cleanups.push(async () => {
    if (serve.exitCode === null && serve.signalCode === null) {
      serve.kill('SIGTERM');
      const t = setTimeout(() => serve.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    }
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (serve.exitCode !== null) throw new Error(`kiln serve exited with ${serve.exitCode}:\n${readFileSync(logFile, 'utf8').slice(-3000)}`);
    const ok = await fetch(`${base}/ready`).then((r) => r.ok, () => false);
    if (ok) break;
    if (i > 600) throw new Error('kiln serve did not become ready');
    await new Promise((r) => setTimeout(r, 100));
  }
  process.stdout.write(
    JSON.stringify({
      kiln_url: base,
      kiln_token: TOKEN,
      hub_url: hub.url,
      kiln_hub_url: hub.url,
      hub_dir: hub.dir,
      work_dir: hub.hub.workDir,
      kiln_log: logFile,
      users: { builder: ['kojibuilder', 'builder-secret'], admin: ['kojiadmin', 'admin-secret'] },
      topurl: topurl.url.replace(/\/$/, ''),
      target: 'f43-candidate',
      stale_target: 'f43-stale',
      bootc_ref: `${registry.host}/fedora/fedora-bootc:42`,
      bootc_installer_ref: `${registry.host}/fedora/anaconda-bootc:42`,
    }) + '\n',
  );
}

main().catch((err) => {
  process.stderr.write(`kiln-for-python: ${(err as Error).stack ?? String(err)}\n`);
  void stop(1);
});
