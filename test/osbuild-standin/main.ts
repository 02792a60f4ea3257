/**
 * The osbuild stand-in (run through osbuild.mjs). Behaves like `osbuild` for the flags Kiln
 * passes: validates the manifest against osbuild's schemas (exit 2 + validation JSON), refuses
 * what osbuild's loader refuses (exit 1, a traceback, no JSON), emits JSONSeqMonitor records as
 * osbuild does (contexts carried over, download log lines, "Finished module A" and "Starting
 * module B" in the same millisecond), writes the exported file, prints the --json result (rpm
 * metadata from the manifest's rpm stages). Container sources and the skopeo stage are real,
 * container-deploy and bootc.install-to-filesystem as far as this host can run them (containers.ts),
 * and so are ostree sources and commit archives (ostree.ts): a failed source fails the build before any pipeline, as osbuild does. SIGINT is osbuild's KeyboardInterrupt: it undoes
 * what it set up, prints "Aborted" and exits 130; SIGTERM kills it on the spot.
 *
 * Environment knobs:
 *   KILN_STANDIN_FAIL_STAGE   stage type (or pipeline:type) that fails
 *   KILN_STANDIN_FAIL_ARCH    the first stage fails in builds of this architecture (the one its
 *                             RPMs are for): a failable arch that fails, next to one that builds
 *   KILN_STANDIN_DELAY_MS     sleep per stage
 *   KILN_STANDIN_HANG=1       hang in the first stage, with a child process in the group;
 *                             =TYPE or =PIPELINE:TYPE hangs in that stage instead
 *   KILN_STANDIN_PIDFILE      when hanging, write "<own pid> <child pid>" here
 *   KILN_STANDIN_IGNORE_TERM=1  ignore SIGTERM
 *   KILN_STANDIN_IGNORE_INT=1   ignore SIGINT (an osbuild that does not stop: forces SIGKILL)
 *   KILN_STANDIN_HOST_EFFECTS=1 (root) set up on the host what osbuild does: mounts under
 *                             <store>/tmp and the rundir, a locked staging entry, loop devices
 *                             and mounts held by services that ignore SIGTERM (host.ts)
 *   KILN_STANDIN_IMAGE_SIZE   bytes of the exported file (default 1 MiB)
 *   KILN_STANDIN_CRASH=1      die with a traceback and no JSON (exit 1)
 *   KILN_STANDIN_LEAK_CHILD=1 succeed but leave a child holding the monitor fd open
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { containerImageStage, fetchSkopeo, fetchSkopeoIndex, flatpakImportStage, skopeoStage, StageError, type ItemResult } from './containers.js';

/** Stages whose `filename` is a file they write inside the tree, not the pipeline's image (bootc images write mount units after the disk). */
const TREE_FILE_STAGES = new Set(['org.osbuild.systemd.unit.create', 'org.osbuild.containers.storage.conf']);

/** Stages that take one container image from the sources (containers.ts). */
const CONTAINER_IMAGE_STAGES = new Set(['org.osbuild.container-deploy', 'org.osbuild.bootc.install-to-filesystem']);
import { Host } from './host.js';
import { commitArchiveOf, fetchOstree, writeCommitArchive } from './ostree.js';
import { writeIso } from './iso.js';
import { loadManifest, LoadError } from './load.js';
import { validateManifest } from './validate.js';

type Json = Record<string, any>;

const env = process.env;

function parseArgs(argv: string[]) {
  const o = {
    exports: [] as string[],
    outputDir: '',
    store: '.osbuild',
    json: false,
    monitor: '',
    monitorFd: 1,
    manifest: '',
    version: false,
    rundir: undefined as string | undefined,
    checkpoints: [] as string[],
  };
  const usage = (message: string): never => {
    process.stderr.write(`usage: osbuild [-h] [--cache DIRECTORY] ... MANIFEST\nosbuild: error: ${message}\n`);
    process.exit(2);
  };
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
      case '--rundir': o.rundir = value(); break;
      case '--checkpoint': o.checkpoints.push(value()); break;
      case '--cache-max-size': {
        // osbuild/util/parsing.py parse_size
        const v = value();
        if (!/^(\s*\d+\s*(kB|KiB|MB|MiB|GB|GiB|TB|TiB)?|unlimited)$/.test(v ?? '')) usage(`argument --cache-max-size: invalid parse_size value: '${v}'`);
        break;
      }
      case '--libdir': case '-l': case '--stage-timeout': value(); break;
      case '--version': o.version = true; break;
      default:
        if (a === '-' || !a.startsWith('-')) o.manifest = a;
        else {
          usage(`unrecognized arguments: ${a}`);
        }
    }
  }
  return o;
}

/** Python's repr of a list of strings. */
const pyList = (items: string[]) => `[${items.map((s) => `'${s}'`).join(', ')}]`;
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

/**
 * osbuild's JSONSeqMonitor (osbuild/monitor.py): one context (origin, pipeline, stage) that
 * begin() and stage() update in place, so "Starting pipeline B" still carries the previous
 * pipeline's last stage; a context is sent in full once, then by id; every record carries the
 * progress (pipelines/sources, with the current pipeline's stages as sub-progress).
 */
class Monitor {
  #fd: number | undefined;
  #sent = new Set<string>();
  #origin = 'org.osbuild';
  #pipeline: { name?: string; id?: string } = {};
  #stage: { name?: string; id?: string } = {};
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
  #context(origin = this.#origin): Json {
    // omitempty: None values go, an empty stage stays as {}
    const clean = (o: Json) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== ''));
    const full: Json = { origin, pipeline: { ...clean(this.#pipeline), stage: clean(this.#stage) } };
    const id = sha256(JSON.stringify(full));
    if (this.#sent.has(id)) return { id };
    this.#sent.add(id);
    return { ...full, id };
  }
  #write(entry: Json): void {
    if (this.#fd === undefined) return;
    if (entry.message === '') delete entry.message;
    writeAll(this.#fd, Buffer.from(`\x1e${JSON.stringify({ ...entry, timestamp: Date.now() / 1000 })}\n`, 'utf8'));
  }
  log(message: string, origin?: string): void {
    this.#write({ message, context: this.#context(origin), progress: this.#progress() });
  }
  begin(pipeline: { name: string; id: string }, stages: number): void {
    this.#pipeline = { ...pipeline };
    if (stages) this.sub = { name: `pipeline: ${pipeline.name}`, total: stages, done: 0 };
    this.log(`Starting pipeline ${pipeline.name}`, 'osbuild.monitor');
  }
  finish(name: string): void {
    this.done++;
    this.sub = undefined;
    this.log(`Finished pipeline ${name}`, 'osbuild.monitor');
  }
  stage(stage: { name: string; id: string }): void {
    this.#stage = { ...stage };
    this.log(`Starting module ${stage.name}`, 'osbuild.monitor');
  }
  result(result: Json, extra: Json = {}): void {
    if (this.sub) this.sub.done++;
    this.#write({ message: `Finished module ${result.name}`, result, context: this.#context('osbuild.monitor'), progress: this.#progress(), ...extra });
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

/** An rpm stage's ids; its metadata, like `rpm -qa` in the real stage, lists every package the tree has so far. */
function rpmIds(stage: Json): string[] {
  const refs = stage.inputs?.packages?.references ?? [];
  return Array.isArray(refs) ? refs.map((r: any) => (typeof r === 'string' ? r : r.id)) : Object.keys(refs);
}

function rpmMetadata(ids: string[], items: Json): Json {
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

/**
 * What a real stage does with options its schema lets through but its code cannot use: it dies
 * with a Python traceback (exit status 1; osbuild reports the stage's error as null). Seen with
 * osbuild 191: org.osbuild.dnf.module-config without conf, conf.name or conf.profiles.
 */
function stageCrash(stage: Json): string | undefined {
  const keyError = (line: number, code: string, key: string) =>
    `Traceback (most recent call last):\n  File "/run/osbuild/bin/${stage.type}", line 31, in <module>\n    r = main(args["tree"], args["options"])\n` +
    `  File "/run/osbuild/bin/${stage.type}", line ${line}, in main\n    ${code}\nKeyError: '${key}'\n`;
  if (stage.type === 'org.osbuild.dnf.module-config') {
    const conf = stage.options?.conf;
    if (conf === undefined) return keyError(10, 'conf = options["conf"]', 'conf');
    if (conf.name === undefined) return keyError(11, 'name = conf["name"]', 'name');
    if (conf.profiles === undefined) return keyError(18, 'inip[name]["profiles"] = ", ".join(conf["profiles"])', 'profiles');
  }
  return undefined;
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

/** Set by SIGINT: osbuild's KeyboardInterrupt, raised wherever it is waiting. */
const interrupt = new AbortController();
class Interrupted extends Error {}
const checkInterrupt = () => {
  if (interrupt.signal.aborted) throw new Interrupted();
};
const interruptible = (ms: number) =>
  new Promise<void>((resolve, reject) => {
    if (interrupt.signal.aborted) return reject(new Interrupted());
    const onAbort = () => {
      clearTimeout(timer);
      reject(new Interrupted());
    };
    const timer = setTimeout(() => {
      interrupt.signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    interrupt.signal.addEventListener('abort', onAbort, { once: true });
  });

function hangsIn(pipeline: string, type: string, first: boolean): boolean {
  const spec = env.KILN_STANDIN_HANG ?? '';
  if (spec === '1') return first;
  if (!spec) return false;
  const [p, t] = spec.includes(':') ? spec.split(':', 2) : ['', spec];
  return t === type && (!p || p === pipeline);
}

/** Manifest.mark_checkpoints: patterns against pipeline names, stage ids and stage types. */
function markCheckpoints(pipelines: Json[], patterns: string[], stageId: (p: Json, i: number) => string): number {
  const re = patterns.map((g) => new RegExp(`^${g.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`));
  const matching = (s: string) => re.some((r) => r.test(s));
  let marked = 0;
  for (const p of pipelines) {
    const stages: Json[] = p.stages ?? [];
    if (!stages.length) continue;
    if (matching(p.name)) marked++;
    stages.forEach((st, i) => {
      if (matching(stageId(p, i)) || matching(st.type)) marked++;
    });
  }
  return marked;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (args.version) {
    process.stdout.write('osbuild 191\n');
    return 0;
  }
  if (env.KILN_STANDIN_IGNORE_TERM === '1') process.on('SIGTERM', () => undefined);
  process.on('SIGINT', () => {
    if (env.KILN_STANDIN_IGNORE_INT !== '1') interrupt.abort();
  });
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
  if (validation.skipped) process.stderr.write('osbuild stand-in: no osbuild schemas (shared/reference/osbuild-schemas), the manifest is not validated\n');
  if (!validation.success) {
    if (args.json) process.stdout.write(`${JSON.stringify(validation)}\n`);
    else for (const e of validation.errors) process.stdout.write(`${e.path.join('.')}: ${e.message}\n`);
    return 2;
  }
  try {
    loadManifest(manifest);
  } catch (err) {
    if (!(err instanceof LoadError)) throw err;
    process.stderr.write(err.traceback());
    return 1;
  }
  const pipelines: Json[] = manifest.pipelines ?? [];
  const byName = new Map(pipelines.map((p) => [p.name as string, p]));
  for (const e of args.exports) {
    if (!byName.has(e)) {
      process.stdout.write(`Export ${e} not found in ${pyList([...byName.keys()])}\nFailed\n`);
      return 1;
    }
  }
  // stage ids chain through the pipeline: each depends on the one before
  const ids = new Map<Json, string[]>();
  for (const p of pipelines) {
    let prev = '';
    ids.set(p, (p.stages ?? []).map((st: Json) => (prev = sha256(JSON.stringify([st.type, st.options ?? {}, prev])))));
  }
  const stageId = (p: Json, i: number) => ids.get(p)![i];
  if (args.checkpoints.length && markCheckpoints(pipelines, args.checkpoints, stageId) === 0) {
    process.stdout.write('No checkpoints matched provided patterns!\nFailed\n');
    return 1;
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
  const host =
    env.KILN_STANDIN_HOST_EFFECTS === '1' ? new Host(args.store, args.rundir ?? '/run/osbuild', (message) => monitor.log(message)) : undefined;
  const sources: Json = manifest.sources ?? {};
  monitor.total = Object.keys(sources).length + toBuild.length;
  monitor.log('starting -', 'osbuild.main_cli');

  const items: Json = sources['org.osbuild.curl']?.items ?? {};
  const sourceResults: Json = { success: true };
  const failSpec = env.KILN_STANDIN_FAIL_STAGE ?? '';
  const [failPipeline, failType] = failSpec.includes(':') ? failSpec.split(':', 2) : ['', failSpec];
  const failArch = env.KILN_STANDIN_FAIL_ARCH;
  let archFails = !!failArch && Object.values(items).some((i) => JSON.stringify(i).includes(`.${failArch}.rpm`));
  const delay = Number(env.KILN_STANDIN_DELAY_MS ?? 0);
  const log: Json = {};
  const metadata: Json = {};
  const installed = new Map<string, string[]>();
  let failure: Json | undefined;
  let sleeper: ReturnType<typeof spawn> | undefined;
  try {
    let sourceFailure: { type: string; output: string } | undefined;
    for (const [type, src] of Object.entries(sources)) {
      monitor.begin({ name: `source ${type}`, id: sha256(JSON.stringify(type)) }, 0);
      const srcItems: Json = (src as Json).items ?? {};
      let results: ItemResult[];
      if (type === 'org.osbuild.skopeo') results = fetchSkopeo(srcItems, args.store);
      else if (type === 'org.osbuild.skopeo-index') results = fetchSkopeoIndex(srcItems, args.store);
      else if (type === 'org.osbuild.ostree') results = fetchOstree(srcItems, args.store);
      else results = Object.keys(srcItems).sort().map((checksum) => ({ success: true, metadata: { checksum, cached: false }, error: '' }));
      // the source service's output reaches the monitor as host-service log lines
      for (const r of results) {
        const item = srcItems[r.metadata.checksum];
        const what = typeof item === 'string' ? item : item?.url ?? (item?.image ? `${item.image.name}@${item.image.digest ?? r.metadata.checksum}` : r.metadata.checksum);
        if (r.success) monitor.log(`source/${type} (${type}): Downloaded ${what}\n`);
      }
      checkInterrupt();
      sourceResults[type] = results.map((r) => ({ cached: r.metadata.cached, checksum: r.metadata.checksum, ...(r.error ? { error: r.error } : {}) }));
      const ok = results.every((r) => r.success);
      // SourceResults.output: the last item's error, whether or not that item failed
      const output = ok ? `source ${type} finished successfully` : `source ${type} finished unsuccessfully: ${results[results.length - 1].error}`;
      monitor.result({ name: `source ${type}`, source_type: type, success: ok, output, results });
      monitor.finish(type);
      if (!ok && !sourceFailure) sourceFailure = { type, output: results.find((r) => !r.success)!.error };
    }
    if (sourceFailure) {
      // Manifest.build: no pipeline runs after a failed download
      sourceResults.success = false;
      monitor.log('manifest - failed\n', 'osbuild.main_cli');
      if (args.json) {
        process.stdout.write(`${JSON.stringify({ type: 'error', success: false, error: { type: 'org.osbuild.error.source', details: { source: sourceFailure } }, sources: sourceResults, log: {} })}\n`);
      }
      await host?.teardown();
      return 1;
    }

    let first = true;
    outer: for (const p of toBuild) {
      const stages: Json[] = p.stages ?? [];
      monitor.begin({ name: p.name, id: stages.length ? stageId(p, stages.length - 1) : '' }, stages.length);
      log[p.name] = [];
      const tree = host && stages.length ? await host.newObject() : undefined;
      for (const [i, st] of stages.entries()) {
        const sid = { name: st.type as string, id: stageId(p, i) };
        monitor.stage(sid);
        const root = host?.stageRoot();
        if (host && !p.build) host.hostTree();
        if (host && root && tree) {
          if (st.type === 'org.osbuild.truncate' && st.options?.filename) {
            execFileSync('truncate', ['-s', String(st.options.size), path.join(tree, st.options.filename)]);
          }
          for (const [name, dev] of Object.entries((st.devices ?? {}) as Json)) {
            const file = dev?.options?.filename ? path.join(tree, dev.options.filename) : '';
            if (dev?.type === 'org.osbuild.loopback' && file && existsSync(file)) await host.service(root, `device/${name}`, 'loop', file);
          }
          for (const m of (st.mounts ?? []) as Json[]) {
            await host.service(root, `mount/${m.name}`, 'mount', path.join(root.mounts, String(m.target ?? '/').replace(/^\/+/, '')));
          }
        }
        if (hangsIn(p.name, st.type, first)) {
          monitor.log('waiting forever\n', `stages/${st.type}`);
          sleeper = spawn('sleep', ['3600'], { stdio: 'ignore' });
          if (env.KILN_STANDIN_PIDFILE) writeFileSync(env.KILN_STANDIN_PIDFILE, `${process.pid} ${sleeper.pid}\n`);
          const keepAlive = setInterval(() => undefined, 1 << 30);
          await new Promise<never>((_, reject) =>
            interrupt.signal.addEventListener(
              'abort',
              () => {
                clearInterval(keepAlive);
                reject(new Interrupted());
              },
              { once: true },
            ),
          );
        }
        first = false;
        if (delay > 0) await interruptible(delay);
        checkInterrupt();
        const crash = stageCrash(st);
        let lines: string[];
        const injectedHere = (failType === st.type && (!failPipeline || failPipeline === p.name)) || archFails;
        archFails = false;
        let fails = crash !== undefined || injectedHere;
        try {
          lines = crash
            ? [crash]
            : st.type === 'org.osbuild.skopeo' && !fails
              ? skopeoStage(st, args.store)
              : CONTAINER_IMAGE_STAGES.has(st.type) && !fails
                ? containerImageStage(st, args.store)
                : st.type === 'org.osbuild.flatpak.build-import-bundle.oci' && !fails
                  ? flatpakImportStage(st, args.store)
                  : stageOutput(st, items);
        } catch (err) {
          if (!(err instanceof StageError)) throw err;
          lines = ['Traceback (most recent call last):\n', `  File "/run/osbuild/bin/${st.type}", line 60, in <module>\n${err.message}\n`];
          fails = true;
        }
        if (!crash && injectedHere) lines.push(`Error: stand-in failure injected in ${st.type}\n`);
        // a stage that crashes reports no error object; an injected or skopeo failure its exit status
        const injected = fails && !crash;
        for (const line of lines) monitor.log(line, `stages/${st.type}`);
        // what osbuild reads after the stage process closed its output: usually nothing
        monitor.log('', `stages/${st.type}`);
        await root?.close();
        const output = lines.join('');
        if (st.type === 'org.osbuild.rpm') installed.set(p.name, [...new Set([...(installed.get(p.name) ?? []), ...rpmIds(st)])]);
        const md = st.type === 'org.osbuild.rpm' ? rpmMetadata(installed.get(p.name)!, items) : undefined;
        const result = { name: st.type, id: sid.id, success: !fails, output, ...(injected ? { error: { type: 'org.osbuild.error', details: 'exit status 1' } } : {}) };
        monitor.result(result, { options: st.options ?? {}, duration: delay / 1000, ...(md && !fails ? { metadata: md } : {}) });
        log[p.name].push({ id: sid.id, type: st.type, output, ...(fails ? { success: false, ...(injected ? { error: result.error } : {}) } : {}) });
        if (fails) {
          failure = { id: sid.id, type: st.type, output, error: injected ? result.error : null };
          monitor.finish(p.name);
          break outer;
        }
        if (md) metadata[p.name] = { ...(metadata[p.name] ?? {}), [st.type]: md };
      }
      monitor.finish(p.name);
    }
    monitor.log(failure ? 'manifest - failed\n' : 'manifest - finished successfully\n', 'osbuild.main_cli');

    if (!failure) {
      const size = Number(env.KILN_STANDIN_IMAGE_SIZE ?? 1024 * 1024);
      for (const e of args.exports) {
        // osbuild exports the pipeline's whole tree; the file it makes is named by the last stage
        // that writes one (a later stage such as org.osbuild.copy may write none)
        const writer = [...(byName.get(e)!.stages ?? [])].reverse().find((st) => typeof st.options?.filename === 'string' && !TREE_FILE_STAGES.has(st.type));
        const filename = writer?.options?.filename;
        const commit = commitArchiveOf(byName.get(e)!, byName);
        if (commit) writeCommitArchive(path.join(args.outputDir, e, commit.filename), commit.ref, `stand-in commit of ${commit.ref}`);
        // an ISO is assembled for real, as far as this host can (iso.ts)
        else if (typeof filename === 'string' && byName.get(e)!.stages.some((st: Json) => st.type === 'org.osbuild.xorrisofs')) writeIso(path.join(args.outputDir, e, filename), byName.get(e)!, byName, args.store, sources['org.osbuild.inline']?.items);
        else if (typeof filename === 'string') await writeImage(path.join(args.outputDir, e, filename), size);
        else mkdirSync(path.join(args.outputDir, e), { recursive: true });
      }
    }
  } catch (err) {
    if (!(err instanceof Interrupted)) throw err;
    // KeyboardInterrupt: the context managers undo everything on the way out (main_cli.py)
    sleeper?.kill('SIGKILL');
    await host?.teardown();
    process.stdout.write('\nAborted\n');
    return 130;
  } finally {
    sleeper?.kill('SIGKILL');
  }
  await host?.teardown();

  if (failure) {
    if (args.json) {
      process.stdout.write(
        `${JSON.stringify({ type: 'error', success: false, error: { type: 'org.osbuild.error.stage', details: { stage: failure } }, sources: sourceResults, log })}\n`,
      );
    }
    return 1;
  }
  if (args.json) process.stdout.write(`${JSON.stringify({ type: 'result', success: true, metadata, sources: sourceResults, log })}\n`);
  if (env.KILN_STANDIN_LEAK_CHILD === '1' && args.monitor === 'JSONSeqMonitor') {
    spawn('sleep', ['3600'], { stdio: ['ignore', 'ignore', 'ignore', args.monitorFd] }).unref();
  }
  return 0;
}

process.exitCode = await main();
