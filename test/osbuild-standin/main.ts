/**
 * The osbuild stand-in (run through osbuild.mjs). Behaves like `osbuild` for the flags Kiln
 * passes: validates the manifest against osbuild's schemas (exit 2 + validation JSON), emits
 * JSONSeqMonitor records for every source, pipeline and stage on --monitor-fd, writes the
 * exported file, prints the --json result (rpm metadata from the manifest's rpm stages).
 *
 * Environment knobs:
 *   KILN_STANDIN_FAIL_STAGE   stage type (or pipeline:type) that fails
 *   KILN_STANDIN_DELAY_MS     sleep per stage
 *   KILN_STANDIN_HANG=1       hang in the first stage, with a child process in the group
 *   KILN_STANDIN_PIDFILE      when hanging, write "<own pid> <child pid>" here
 *   KILN_STANDIN_IGNORE_TERM=1  ignore SIGTERM (forces the caller to SIGKILL)
 *   KILN_STANDIN_IMAGE_SIZE   bytes of the exported file (default 1 MiB)
 *   KILN_STANDIN_CRASH=1      die with a traceback and no JSON (exit 1)
 *   KILN_STANDIN_LEAK_CHILD=1 succeed but leave a child holding the monitor fd open
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { validateManifest } from './validate.js';

type Json = Record<string, any>;

const env = process.env;

function parseArgs(argv: string[]) {
  const o = { exports: [] as string[], outputDir: '', store: '.osbuild', json: false, monitor: '', monitorFd: 1, manifest: '', version: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case '--export': o.exports.push(value()); break;
      case '--output-directory': o.outputDir = value(); break;
      case '--store': case '--cache': o.store = value(); break;
      case '--json': o.json = true; break;
      case '--monitor': o.monitor = value(); break;
      case '--monitor-fd': o.monitorFd = Number(value()); break;
      case '--libdir': case '-l': case '--cache-max-size': case '--checkpoint': case '--stage-timeout': case '--rundir': value(); break;
      case '--version': o.version = true; break;
      default:
        if (a === '-' || !a.startsWith('-')) o.manifest = a;
        else {
          process.stderr.write(`osbuild: error: unrecognized arguments: ${a}\n`);
          process.exit(2);
        }
    }
  }
  return o;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

function writeAll(fd: number, buf: Buffer): void {
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    }
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

class Monitor {
  #fd: number | undefined;
  #sent = new Set<string>();
  total = 0;
  done = 0;
  sub: { name: string; total: number; done: number } | undefined;
  constructor(fd: number | undefined) {
    this.#fd = fd;
  }
  #progress(): Json {
    const p: Json = { name: 'pipelines/sources', total: this.total, done: this.done };
    if (this.sub) p.progress = { ...this.sub };
    return p;
  }
  log(message: string, origin: string, pipeline?: { name: string; id: string }, stage?: { name: string; id: string }, extra: Json = {}): void {
    if (this.#fd === undefined) return;
    const full: Json = { origin, pipeline: { ...(pipeline ?? {}), stage: { ...(stage ?? {}) } } };
    const id = sha256(JSON.stringify(full));
    const context = this.#sent.has(id) ? { id } : { ...full, id };
    this.#sent.add(id);
    const entry = { message, context, progress: this.#progress(), ...extra, timestamp: Date.now() / 1000 };
    writeAll(this.#fd, Buffer.from(`\x1e${JSON.stringify(entry)}\n`, 'utf8'));
  }
}

function pipelineDeps(p: Json): string[] {
  const deps = new Set<string>();
  const ref = (r: string) => r.startsWith('name:') && deps.add(r.slice(5));
  if (typeof p.build === 'string') ref(p.build);
  for (const st of p.stages ?? []) {
    for (const input of Object.values((st.inputs ?? {}) as Json)) {
      if (input?.origin !== 'org.osbuild.pipeline') continue;
      const refs = input.references;
      if (Array.isArray(refs)) for (const r of refs) ref(typeof r === 'string' ? r : r.id);
      else for (const k of Object.keys(refs ?? {})) ref(k);
    }
  }
  return [...deps];
}

function rpmMetadata(stage: Json, items: Json): Json {
  const refs = stage.inputs?.packages?.references ?? [];
  const ids: string[] = Array.isArray(refs) ? refs.map((r: any) => (typeof r === 'string' ? r : r.id)) : Object.keys(refs);
  const packages = ids.map((id) => {
    const item = items[id];
    const url: string = typeof item === 'string' ? item : item?.url ?? '';
    const file = path.posix.basename(url).replace(/\.rpm$/, '');
    const m = /^(.+)-([^-]+)-([^-]+)\.([^.]+)$/.exec(file);
    const [name, version, release, arch] = m ? [m[1], m[2], m[3], m[4]] : [file, '0', '0', 'noarch'];
    return {
      name, version, release, epoch: null, arch,
      sigmd5: createHash('md5').update(id).digest('hex'),
      sha1header: null, sha256header: sha256(`header:${id}`), sha3_256header: null, sigpgp: null, siggpg: null,
    };
  });
  packages.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { packages };
}

function stageOutput(stage: Json, items: Json): string[] {
  if (stage.type === 'org.osbuild.rpm') {
    const refs = stage.inputs?.packages?.references ?? [];
    const ids: string[] = Array.isArray(refs) ? refs.map((r: any) => (typeof r === 'string' ? r : r.id)) : Object.keys(refs);
    const lines = [`imported ${ids.length} packages\n`];
    for (const id of ids.slice(0, 20)) lines.push(`  installing ${path.posix.basename(String(items[id]?.url ?? items[id] ?? id))} ✓\n`);
    return lines;
  }
  return [`${stage.type}: ${JSON.stringify(stage.options ?? {}).slice(0, 200)}\n`, 'done ✓\n'];
}

async function writeImage(file: string, size: number): Promise<void> {
  mkdirSync(path.dirname(file), { recursive: true });
  const fd = openSync(file, 'w');
  const block = Buffer.alloc(64 * 1024);
  for (let i = 0; i < block.length; i++) block[i] = (i * 31 + 7) & 0xff;
  try {
    for (let off = 0; off < size; off += block.length) writeAll(fd, block.subarray(0, Math.min(block.length, size - off)));
  } finally {
    closeSync(fd);
  }
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (args.version) {
    process.stdout.write('osbuild 191\n');
    return 0;
  }
  if (env.KILN_STANDIN_IGNORE_TERM === '1') process.on('SIGTERM', () => undefined);
  if (!args.manifest) {
    process.stderr.write('osbuild: error: the following arguments are required: MANIFEST\n');
    return 2;
  }
  if (args.manifest !== '-') {
    process.stderr.write('stand-in reads the manifest from stdin only\n');
    return 2;
  }
  const text = await readStdin();
  let manifest: Json;
  try {
    manifest = JSON.parse(text);
  } catch (err) {
    process.stderr.write(`Traceback (most recent call last):\n  File "osbuild/main_cli.py", line 120, in osbuild_cli\njson.decoder.JSONDecodeError: ${(err as Error).message}\n`);
    return 1;
  }
  if (manifest.version !== '2') {
    process.stdout.write('Unsupported manifest format\n');
    return 2;
  }
  const validation = validateManifest(manifest);
  if (!validation.success) {
    if (args.json) process.stdout.write(`${JSON.stringify(validation)}\n`);
    else for (const e of validation.errors) process.stdout.write(`${e.path.join('.')}: ${e.message}\n`);
    return 2;
  }
  const pipelines: Json[] = manifest.pipelines ?? [];
  const byName = new Map(pipelines.map((p) => [p.name as string, p]));
  for (const e of args.exports) {
    if (!byName.has(e)) {
      process.stdout.write(`Export ${e} not found in ${JSON.stringify([...byName.keys()])}\nFailed\n`);
      return 1;
    }
  }
  if (args.exports.length && !args.outputDir) {
    process.stdout.write('Need --output-directory for --export\n');
    return 1;
  }
  if (env.KILN_STANDIN_CRASH === '1') {
    process.stderr.write('Traceback (most recent call last):\n  File "osbuild/pipeline.py", line 1, in build\nRuntimeError: stand-in crash\n');
    return 1;
  }
  mkdirSync(args.store, { recursive: true });

  // exported pipelines and their transitive dependencies, in manifest order
  const needed = new Set<string>();
  const visit = (n: string) => {
    if (needed.has(n)) return;
    needed.add(n);
    for (const d of pipelineDeps(byName.get(n) ?? {})) visit(d);
  };
  args.exports.forEach(visit);
  const toBuild = pipelines.filter((p) => needed.has(p.name));

  const monitor = new Monitor(args.monitor === 'JSONSeqMonitor' ? args.monitorFd : undefined);
  const sources: Json = manifest.sources ?? {};
  monitor.total = Object.keys(sources).length + toBuild.length;
  monitor.log('starting -', 'osbuild.main_cli');

  const items: Json = sources['org.osbuild.curl']?.items ?? {};
  const sourceResults: Json = { success: true };
  for (const [type, src] of Object.entries(sources)) {
    const p = { name: `source ${type}`, id: sha256(JSON.stringify(type)) };
    monitor.log(`Starting pipeline source ${type}`, 'osbuild.monitor', p);
    const keys = Object.keys((src as Json).items ?? {}).sort();
    sourceResults[type] = keys.map((checksum) => ({ cached: false, checksum }));
    monitor.log(`Finished module source ${type}`, 'osbuild.monitor', p, undefined, {
      result: { name: `source ${type}`, source_type: type, success: true, output: `downloaded ${keys.length} files`, results: [] },
    });
    monitor.done++;
    monitor.log(`Finished pipeline source ${type}`, 'osbuild.monitor', p);
  }

  const failSpec = env.KILN_STANDIN_FAIL_STAGE ?? '';
  const [failPipeline, failType] = failSpec.includes(':') ? failSpec.split(':', 2) : ['', failSpec];
  const delay = Number(env.KILN_STANDIN_DELAY_MS ?? 0);
  const log: Json = {};
  const metadata: Json = {};
  let prevId = '';
  let failure: Json | undefined;
  outer: for (const p of toBuild) {
    const stages: Json[] = p.stages ?? [];
    const pid = { name: p.name, id: sha256(`${p.name}:${JSON.stringify(stages)}`) };
    monitor.sub = stages.length ? { name: `pipeline: ${p.name}`, total: stages.length, done: 0 } : undefined;
    monitor.log(`Starting pipeline ${p.name}`, 'osbuild.monitor', pid);
    log[p.name] = [];
    for (const st of stages) {
      const sid = { name: st.type, id: sha256(JSON.stringify([st.type, st.options ?? {}, prevId])) };
      prevId = sid.id;
      monitor.log(`Starting module ${st.type}`, 'osbuild.monitor', pid, sid);
      if (env.KILN_STANDIN_HANG === '1') {
        monitor.log('waiting forever\n', `stages/${st.type}`, pid, sid);
        const sleeper = spawn('sleep', ['3600'], { stdio: 'ignore' });
        if (env.KILN_STANDIN_PIDFILE) writeFileSync(env.KILN_STANDIN_PIDFILE, `${process.pid} ${sleeper.pid}\n`);
        await new Promise(() => setInterval(() => undefined, 1 << 30));
      }
      if (delay > 0) await sleep(delay);
      const lines = stageOutput(st, items);
      const fails = failType === st.type && (!failPipeline || failPipeline === p.name);
      if (fails) lines.push(`Error: stand-in failure injected in ${st.type}\n`);
      for (const line of lines) monitor.log(line, `stages/${st.type}`, pid, sid);
      const output = lines.join('');
      const md = st.type === 'org.osbuild.rpm' ? rpmMetadata(st, items) : undefined;
      if (monitor.sub) monitor.sub.done++;
      const result = { name: st.type, id: sid.id, success: !fails, output, ...(fails ? { error: { type: 'org.osbuild.error', details: 'exit status 1' } } : {}) };
      monitor.log(`Finished module ${st.type}`, 'osbuild.monitor', pid, sid, {
        result,
        options: st.options ?? {},
        duration: delay / 1000,
        ...(md && !fails ? { metadata: md } : {}),
      });
      log[p.name].push({ id: sid.id, type: st.type, output, ...(fails ? { success: false, error: result.error } : {}) });
      if (fails) {
        failure = { id: sid.id, type: st.type, output, error: result.error };
        break outer;
      }
      if (md) metadata[p.name] = { ...(metadata[p.name] ?? {}), [st.type]: md };
    }
    monitor.done++;
    monitor.sub = undefined;
    monitor.log(`Finished pipeline ${p.name}`, 'osbuild.monitor', pid);
  }

  if (failure) {
    if (args.json) {
      process.stdout.write(
        `${JSON.stringify({ type: 'error', success: false, error: { type: 'org.osbuild.error.stage', details: { stage: failure } }, sources: sourceResults, log })}\n`,
      );
    }
    return 1;
  }

  const size = Number(env.KILN_STANDIN_IMAGE_SIZE ?? 1024 * 1024);
  for (const e of args.exports) {
    // osbuild exports the pipeline's whole tree; the file it makes is named by the last stage
    // that writes one (a later stage such as org.osbuild.copy may write none)
    const writer = [...(byName.get(e)!.stages ?? [])].reverse().find((st) => typeof st.options?.filename === 'string');
    const filename = writer?.options?.filename;
    if (typeof filename === 'string') await writeImage(path.join(args.outputDir, e, filename), size);
    else mkdirSync(path.join(args.outputDir, e), { recursive: true });
  }
  if (args.json) process.stdout.write(`${JSON.stringify({ type: 'result', success: true, metadata, sources: sourceResults, log })}\n`);
  if (env.KILN_STANDIN_LEAK_CHILD === '1' && args.monitor === 'JSONSeqMonitor') {
    spawn('sleep', ['3600'], { stdio: ['ignore', 'ignore', 'ignore', args.monitorFd] }).unref();
  }
  return 0;
}

process.exitCode = await main();
