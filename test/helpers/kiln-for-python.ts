/**
 * Starts what koji-plugin/tests/test_e2e.py needs and prints one JSON line describing it:
 *
 *   node --import tsx test/helpers/kiln-for-python.ts
 *
 * - a database: cloned from the test template (KILN_TEST_PG_ADMIN_URL, as `npm test` sets),
 *   or, when run alone, an embedded Postgres of its own, migrated;
 * - the dev hub (in this process) with users `kiln` (CG access), `kojibuilder` (the kojid host's
 *   login) and `kojiadmin` (admin), tags `f43-build` (arches x86_64 aarch64),
 *   `f43-candidate` (package `fedora-guest`) and target `f43-candidate`;
 * - the few hub calls a kojid builder makes that the dev hub lacks, added to its method table
 *   here: getBuildConfig, getTag, getRepo, host.subtask (tagBuild runs at once, like the dev
 *   hub's own tagBuild), host.taskSetWait/taskWait/taskWaitResults, and the test admin call
 *   devAdmin.setTaskState (tasks come from the dev hub's makeTask, as an admin makes them);
 * - a small front for the hub that accepts the builder host's uploads into `tasks/…` (the dev hub
 *   refuses that directory, which only builder hosts may use) and passes everything else on;
 * - `kiln serve` (bin/kiln.js) with bearer-token auth, the osbuild stand-in, a zero-time solver and
 *   workers for x86_64 only (so an aarch64 compose stays unfinished until canceled).
 *
 * Stops everything on SIGTERM/SIGINT or when stdin closes.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startDevHub } from '../../src/devhub/index.js';
import { methods } from '../../src/devhub/methods.js';
import { HubFault, FaultCode, TASK_STATES } from '../../src/devhub/rules.js';
import { Adler32 } from '../../src/koji/adler32.js';
import { encodeFault, encodeResponse } from '../../src/koji/xmlrpc.js';
import { startEmbeddedPostgres } from '../../src/db/embedded.js';
import { migrate } from '../../src/db/migrate.js';
import { freePort } from './net.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const TOKEN = 'koji-builder-token-0123456789abcdef';
const TAG_ARCHES: Record<string, string> = { 'f43-build': 'x86_64 aarch64' };

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

type Args = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function tagByInfo(t: Args, info: unknown): Args | undefined {
  return typeof info === 'number' ? t.tags[info] : Object.values(t.tags as Record<string, Args>).find((x) => x.name === info);
}

function tagInfo(tag: Args): Args {
  return { id: tag.id, name: tag.name, arches: TAG_ARCHES[tag.name] ?? null, locked: false, perm_id: null, maven_support: false, maven_include_all: false, extra: {} };
}

function login(ctx: Args): Args {
  if (!ctx.user) throw new HubFault(FaultCode.AuthError, 'Not logged-in');
  return ctx.user;
}

function registerBuilderMethods(): void {
  const noDefaults = (names: string[]) => Object.fromEntries(names.map((n) => [n, null]));
  methods.getTag = {
    params: ['tagInfo', 'strict', 'event', 'blocked'],
    defaults: { strict: false, event: null, blocked: false },
    fn(ctx, a) {
      const tag = tagByInfo(ctx.t as Args, a.tagInfo);
      if (!tag) {
        if (a.strict) throw new HubFault(FaultCode.GenericError, `No such tagInfo: '${String(a.tagInfo)}'`);
        return null;
      }
      return tagInfo(tag);
    },
  };
  methods.getBuildConfig = {
    params: ['tag', 'event'],
    defaults: { event: null },
    fn(ctx, a) {
      const tag = tagByInfo(ctx.t as Args, a.tag);
      if (!tag) throw new HubFault(FaultCode.GenericError, `No such tagInfo: '${String(a.tag)}'`);
      return { ...tagInfo(tag), config_inheritance: { arches: null, extra: {} } };
    },
  };
  methods.getRepo = {
    params: ['tag', 'state', 'event', 'dist', 'min_event'],
    defaults: noDefaults(['state', 'event', 'dist', 'min_event']),
    fn(ctx, a) {
      const tag = tagByInfo(ctx.t as Args, a.tag);
      if (!tag) throw new HubFault(FaultCode.GenericError, `No such tagInfo: '${String(a.tag)}'`);
      return { id: 100 + tag.id, state: 1, create_event: 1, creation_time: new Date().toISOString(), create_ts: Date.now() / 1000, dist: false, tag_id: tag.id, tag_name: tag.name };
    },
  };
  methods['host.subtask'] = {
    params: ['method', 'arglist', 'parent', 'label', 'arch', 'priority', 'channel', 'owner', 'weight', 'parent_method', 'parent_id'],
    defaults: noDefaults(['label', 'arch', 'priority', 'channel', 'owner', 'weight', 'parent_method', 'parent_id']),
    async fn(ctx, a) {
      login(ctx);
      const t = ctx.t as Args;
      if (!t.tasks[a.parent]) throw new HubFault(FaultCode.GenericError, `No such task: ${String(a.parent)}`);
      if (a.method !== 'tagBuild') throw new HubFault(FaultCode.GenericError, `kiln-for-python: only tagBuild subtasks run here, not ${String(a.method)}`);
      const [tag, build, force, fromtag] = a.arglist as unknown[];
      let id: number;
      try {
        id = (await methods.tagBuild.fn(ctx, { tag, build, force: force ?? false, fromtag: fromtag ?? null })) as number;
        t.tasks[id].result = { ok: true };
      } catch (err) {
        if (!(err instanceof HubFault)) throw err;
        id = Math.max(0, ...Object.keys(t.tasks).map(Number)) + 1;
        t.tasks[id] = { ...t.tasks[a.parent], id, method: 'tagBuild', state: TASK_STATES.FAILED, request: a.arglist, result: { faultCode: err.faultCode, faultString: err.message } };
      }
      Object.assign(t.tasks[id], { parent: a.parent, label: a.label ?? null, arch: a.arch ?? 'noarch' });
      ctx.changed = true;
      return id;
    },
  };
  methods['host.taskSetWait'] = { params: ['parent', 'tasks'], defaults: { tasks: null }, fn: () => null };
  methods['host.taskWait'] = {
    params: ['parent'],
    fn(ctx, a) {
      const kids = Object.values((ctx.t as Args).tasks as Record<string, Args>).filter((x) => x.parent === a.parent);
      const done = (s: number) => s === TASK_STATES.CLOSED || s === TASK_STATES.FAILED || s === TASK_STATES.CANCELED;
      return [kids.filter((k) => done(k.state)).map((k) => k.id), kids.filter((k) => !done(k.state)).map((k) => k.id)];
    },
  };
  methods['host.taskWaitResults'] = {
    params: ['parent', 'tasks', 'canfail'],
    defaults: { tasks: null, canfail: null },
    fn(ctx, a) {
      const t = ctx.t as Args;
      const ids: number[] = a.tasks ?? Object.values(t.tasks as Record<string, Args>).filter((x) => x.parent === a.parent).map((x) => x.id);
      return ids.map((id) => {
        const task = t.tasks[id];
        if (task.state === TASK_STATES.FAILED && !(a.canfail ?? []).includes(id)) throw new HubFault(task.result?.faultCode ?? FaultCode.GenericError, task.result?.faultString ?? 'subtask failed');
        return [id, task.result];
      });
    },
  };
  methods['devAdmin.setTaskState'] = {
    params: ['task_id', 'state'],
    fn(ctx, a) {
      const task = (ctx.t as Args).tasks[a.task_id];
      if (!task) throw new HubFault(FaultCode.GenericError, `No such task: ${String(a.task_id)}`);
      task.state = (TASK_STATES as Record<string, number>)[a.state];
      ctx.changed = true;
      return null;
    },
  };
}

/** The builder host's uploads into tasks/<n>/<id>/ (the real hub allows them for the task's host). */
async function hubFront(hubUrl: string, workDir: string, sessionKey: (id: number) => string | undefined): Promise<string> {
  const target = new URL(hubUrl);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://front');
    const filepath = url.searchParams.get('filepath') ?? '';
    const isTaskUpload = String(req.headers['content-type'] ?? '').startsWith('application/octet-stream') && filepath.startsWith('tasks/');
    if (!isTaskUpload) {
      const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', (err) => {
        if (!res.headersSent) res.writeHead(502).end(String(err));
      });
      req.pipe(up);
      return;
    }
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
      const body = Buffer.concat(chunks);
      try {
        const id = Number(req.headers['koji-session-id']);
        if (!id || sessionKey(id) !== req.headers['koji-session-key']) throw new HubFault(FaultCode.ActionNotAllowed, 'you must be logged-in to upload a file');
        const name = url.searchParams.get('filename') ?? '';
        const rel = path.posix.normalize(filepath);
        if (!/^tasks\/\d+\/\d+(\/[A-Za-z0-9_.-]+)*$/.test(rel) || !/^[A-Za-z0-9_.-]+$/.test(name) || name.startsWith('.')) {
          throw new HubFault(FaultCode.GenericError, `Invalid upload: ${filepath}/${name}`);
        }
        const offset = Number(url.searchParams.get('offset') ?? '0');
        const overwrite = Boolean(url.searchParams.get('overwrite'));
        mkdirSync(path.join(workDir, rel), { recursive: true });
        const file = path.join(workDir, rel, name);
        const fh = await open(file, 'a+');
        try {
          if (overwrite) await fh.truncate(offset);
          await fh.write(body, 0, body.length, offset);
        } finally {
          await fh.close();
        }
        const h = new Adler32();
        h.update(body);
        res.writeHead(200, { 'Content-Type': 'text/xml' }).end(encodeResponse({ size: body.length, fileverify: 'adler32', offset, hexdigest: h.hexdigest() }));
      } catch (err) {
        const f = err instanceof HubFault ? err : new HubFault(FaultCode.GenericError, String(err));
        res.writeHead(200, { 'Content-Type': 'text/xml' }).end(encodeFault(f.faultCode, f.message));
      }
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanups.push(
    () =>
      new Promise((r) => {
        server.close(r);
        server.closeAllConnections();
      }),
  );
  return `http://127.0.0.1:${(server.address() as { port: number }).port}/kojihub`;
}

async function main(): Promise<void> {
  const dbUrl = await database();
  registerBuilderMethods();
  const hub = await startDevHub({ dir: path.join(dir, 'hub') });
  cleanups.push(() => hub.close());
  await hub.createUser({ name: 'kiln', password: 'kiln-secret' });
  await hub.grantCGAccess('kiln', 'kiln');
  await hub.createUser({ name: 'kojibuilder', password: 'builder-secret' });
  await hub.createUser({ name: 'kojiadmin', password: 'admin-secret', admin: true });
  await hub.createTag('f43-build');
  await hub.createTag('f43-candidate', ['fedora-guest']);
  await hub.createBuildTarget('f43-candidate', 'f43-build', 'f43-candidate');
  const front = await hubFront(hub.url, hub.hub.workDir, (id) => {
    const s = hub.hub.tables().sessions[id];
    return s && !s.closed ? s.key : undefined;
  });

  writeFileSync(path.join(dir, 'koji-password'), 'kiln-secret\n');
  writeFileSync(path.join(dir, 'tokens'), `koji-builder ${TOKEN}\n`);
  const port = await freePort();
  const logFile = path.join(dir, 'kiln.log');
  const serve = spawn(process.execPath, [path.join(root, 'bin/kiln.js'), 'serve'], {
    env: {
      ...process.env,
      KILN_CONFIG: '',
      KILN_STATE_DIR: path.join(dir, 'state'),
      KILN_DATABASE_URL: dbUrl,
      KILN_LISTEN_ADDRESS: '127.0.0.1',
      KILN_LISTEN_PORT: String(port),
      KILN_LOG_LEVEL: process.env.KILN_LOG_LEVEL ?? 'info',
      KILN_API_TOKENS_FILE: path.join(dir, 'tokens'),
      // only x86_64 workers: an aarch64 image never finishes, which the cancel tests use
      KILN_WORKERS_ARCHES: 'x86_64',
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
      hub_url: front,
      kiln_hub_url: hub.url,
      hub_dir: hub.dir,
      work_dir: hub.hub.workDir,
      kiln_log: logFile,
      users: { builder: ['kojibuilder', 'builder-secret'], admin: ['kojiadmin', 'admin-secret'] },
      target: 'f43-candidate',
    }) + '\n',
  );
}

main().catch((err) => {
  process.stderr.write(`kiln-for-python: ${(err as Error).stack ?? String(err)}\n`);
  void stop(1);
});
