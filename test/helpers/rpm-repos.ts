/**
 * Real RPM repositories for tests, built with rpmbuild and createrepo_c.
 *
 * - `buildRepo(dir, packages, { modules })` builds tiny packages (noarch or any arch through
 *   `--target`, with dependencies and optional files) into `dir` and runs createrepo_c on it;
 *   with `modules`, it is a modular repository: the streams' own packages are built too and a
 *   modules.yaml (modulemd v2 documents and modulemd-defaults) is added with modifyrepo_c.
 * - `cachedRepo(name, packages)` does the same once per test run: every ava worker process of
 *   one run shares the result (keyed by the run and the package list), so test files do not
 *   rebuild the same repo.
 * - `standardRepos()` is the shared fixture set described by STANDARD_FIXTURES.
 * - `serveDirectory(root)` serves a tree over HTTP on 127.0.0.1; `unreachableUrl()` gives a
 *   loopback URL where nothing listens.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import YAML from 'yaml';

const run = promisify(execFile);

export interface RpmFile {
  /** Absolute path inside the package, e.g. /usr/bin/hello. */
  path: string;
  content?: string;
  /** Octal mode string, default "0644". */
  mode?: string;
}

export interface RpmPackage {
  name: string;
  version?: string;
  release?: string;
  epoch?: number;
  /** "noarch" (default) or a target arch such as x86_64 or aarch64. */
  arch?: string;
  summary?: string;
  requires?: string[];
  provides?: string[];
  recommends?: string[];
  suggests?: string[];
  supplements?: string[];
  conflicts?: string[];
  obsoletes?: string[];
  /** Paths (empty files) or files with content. */
  files?: Array<string | RpmFile>;
}

export interface BuiltPackage {
  name: string;
  epoch: number;
  version: string;
  release: string;
  arch: string;
  /** Repository-relative location, e.g. "noarch/chain-a-1.0-1.noarch.rpm". */
  location: string;
}

export interface BuiltRepo {
  /** Directory holding the RPMs and repodata/. */
  path: string;
  /** file:// URL of `path`. */
  baseurl: string;
  packages: BuiltPackage[];
  /** Module streams as `name:stream`, when the repository is modular. */
  modules?: string[];
}

/** One stream of a module: a modulemd v2 document whose artifacts are `packages`. */
export interface ModuleStreamFixture {
  name: string;
  stream: string;
  /** The modulemd version (a build timestamp in real repositories); default 1. */
  version?: number;
  /** Default "00000000". */
  context?: string;
  /** The module's arch: the arch the repository is solved for. */
  arch: string;
  /** `dependencies: [{requires: {platform: [<platform>]}}]`, e.g. "f43" (dnf then needs module_platform_id platform:f43). */
  platform?: string;
  /** Profile name → package names. */
  profiles: Record<string, string[]>;
  /** The stream's packages (built into the repository, listed as the stream's artifacts). */
  packages: RpmPackage[];
}

/** A modulemd-defaults document: the module's default stream and its default profiles per stream. */
export interface ModuleDefaultsFixture {
  module: string;
  stream: string;
  profiles?: Record<string, string[]>;
}

export interface ModularMetadata {
  streams: ModuleStreamFixture[];
  defaults?: ModuleDefaultsFixture[];
}

export interface RepoOptions {
  modules?: ModularMetadata;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;
const EVR_PART = /^[A-Za-z0-9._+~^]+$/;
const DEP = /^[A-Za-z0-9._+()/:<>=~^, -]+$/;
const FILE_PATH = /^\/[A-Za-z0-9._+/-]+$/;
const ARCH = /^[a-z0-9_]+$/;

function check(value: string, re: RegExp, what: string): string {
  if (!re.test(value)) throw new Error(`rpm fixture: invalid ${what} ${JSON.stringify(value)}`);
  return value;
}

function normalize(pkg: RpmPackage): Required<Omit<RpmPackage, 'files'>> & { files: RpmFile[] } {
  return {
    name: check(pkg.name, NAME, 'name'),
    version: check(pkg.version ?? '1.0', EVR_PART, 'version'),
    release: check(pkg.release ?? '1', EVR_PART, 'release'),
    epoch: pkg.epoch ?? 0,
    arch: check(pkg.arch ?? 'noarch', ARCH, 'arch'),
    summary: (pkg.summary ?? `Kiln test package ${pkg.name}`).replace(/[\r\n]/g, ' '),
    requires: (pkg.requires ?? []).map((d) => check(d, DEP, 'dependency')),
    provides: (pkg.provides ?? []).map((d) => check(d, DEP, 'dependency')),
    recommends: (pkg.recommends ?? []).map((d) => check(d, DEP, 'dependency')),
    suggests: (pkg.suggests ?? []).map((d) => check(d, DEP, 'dependency')),
    supplements: (pkg.supplements ?? []).map((d) => check(d, DEP, 'dependency')),
    conflicts: (pkg.conflicts ?? []).map((d) => check(d, DEP, 'dependency')),
    obsoletes: (pkg.obsoletes ?? []).map((d) => check(d, DEP, 'dependency')),
    files: (pkg.files ?? []).map((f) => {
      const file = typeof f === 'string' ? { path: f } : f;
      check(file.path, FILE_PATH, 'file path');
      if (file.mode !== undefined) check(file.mode, /^0?[0-7]{3,4}$/, 'file mode');
      return file;
    }),
  };
}

function specFor(pkg: ReturnType<typeof normalize>, sourceDir: string): string {
  const lines = [
    '%global debug_package %{nil}',
    '%global __os_install_post %{nil}',
    '%global _build_id_links none',
    `Name: ${pkg.name}`,
    `Version: ${pkg.version}`,
    `Release: ${pkg.release}`,
    ...(pkg.epoch ? [`Epoch: ${pkg.epoch}`] : []),
    `Summary: ${pkg.summary}`,
    'License: MIT',
    // Fixtures declare every dependency themselves: no /bin/sh from a shebang, no sonames.
    'AutoReqProv: no',
    ...(pkg.arch === 'noarch' ? ['BuildArch: noarch'] : []),
    ...pkg.requires.map((d) => `Requires: ${d}`),
    ...pkg.provides.map((d) => `Provides: ${d}`),
    ...pkg.recommends.map((d) => `Recommends: ${d}`),
    ...pkg.suggests.map((d) => `Suggests: ${d}`),
    ...pkg.supplements.map((d) => `Supplements: ${d}`),
    ...pkg.conflicts.map((d) => `Conflicts: ${d}`),
    ...pkg.obsoletes.map((d) => `Obsoletes: ${d}`),
    '',
    '%description',
    pkg.summary,
    '',
    '%install',
    ...pkg.files.map((f, i) => `install -D -m ${f.mode ?? '0644'} '${path.join(sourceDir, String(i))}' '%{buildroot}${f.path}'`),
    '',
    '%files',
    ...pkg.files.map((f) => f.path),
    '',
  ];
  return lines.join('\n');
}

/** Builds `packages` (and the module streams' packages) into `dir` (created if needed) and makes it a repository. */
export async function buildRepo(dir: string, packages: RpmPackage[], options: RepoOptions = {}): Promise<BuiltRepo> {
  const streams = options.modules?.streams ?? [];
  const pkgs = [...packages, ...streams.flatMap((s) => s.packages)].map(normalize);
  await mkdir(dir, { recursive: true });
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'kiln-rpmbuild-'));
  try {
    const byArch = new Map<string, string[]>();
    for (const [i, pkg] of pkgs.entries()) {
      const sourceDir = path.join(scratch, 'SOURCES', String(i));
      await mkdir(sourceDir, { recursive: true });
      for (const [j, file] of pkg.files.entries()) await writeFile(path.join(sourceDir, String(j)), file.content ?? '');
      const spec = path.join(scratch, 'SPECS', `${i}-${pkg.name}.spec`);
      await mkdir(path.dirname(spec), { recursive: true });
      await writeFile(spec, specFor(pkg, sourceDir));
      byArch.set(pkg.arch, [...(byArch.get(pkg.arch) ?? []), spec]);
    }
    await mkdir(path.join(scratch, 'tmp'));
    // rpmbuild builds the specs of one call in parallel and each creates %{_topdir} and its
    // subdirectories: made here first, or they race ("failed to create directory: File exists").
    for (const arch of byArch.keys()) {
      for (const sub of ['BUILD', 'BUILDROOT', 'RPMS', 'SOURCES', 'SPECS', 'SRPMS']) {
        await mkdir(path.join(scratch, 'top', arch, sub), { recursive: true });
      }
    }
    // One rpmbuild per arch with all its specs: process start-up dominates for empty packages.
    const builds = await Promise.allSettled(
      [...byArch].map(([arch, specs]) =>
        run(
          'rpmbuild',
          [
            '-bb',
            '--quiet',
            ...(arch === 'noarch' ? [] : ['--target', arch]),
            '--define',
            `_topdir ${path.join(scratch, 'top', arch)}`,
            '--define',
            `_rpmdir ${dir}`,
            '--define',
            `_tmppath ${path.join(scratch, 'tmp')}`,
            ...specs,
          ],
          { maxBuffer: 16 * 1024 * 1024 },
        ),
      ),
    );
    for (const b of builds) {
      if (b.status === 'rejected') {
        const e = b.reason as Error & { stderr?: string };
        throw new Error(`rpm fixture: rpmbuild failed: ${e.message}\n${e.stderr ?? ''}`, { cause: e });
      }
    }
    await run('createrepo_c', ['--quiet', dir]);
    if (options.modules) {
      const yaml = path.join(scratch, 'modules.yaml');
      await writeFile(yaml, modulesYaml(options.modules));
      await run('modifyrepo_c', ['--mdtype=modules', yaml, path.join(dir, 'repodata')]);
    }
  } finally {
    await rm(scratch, { recursive: true, force: true, maxRetries: 3 });
  }
  return {
    path: dir,
    baseurl: pathToFileURL(dir).href,
    packages: pkgs.map((p) => ({
      name: p.name,
      epoch: p.epoch,
      version: p.version,
      release: p.release,
      arch: p.arch,
      location: `${p.arch}/${p.name}-${p.version}-${p.release}.${p.arch}.rpm`,
    })),
    ...(options.modules ? { modules: streams.map((st) => `${st.name}:${st.stream}`) } : {}),
  };
}

/** modules.yaml as a distribution ships it: one modulemd v2 document per stream, then the defaults. */
export function modulesYaml(modules: ModularMetadata): string {
  const docs: unknown[] = [];
  for (const st of modules.streams) {
    check(st.name, NAME, 'module name');
    check(st.stream, EVR_PART, 'module stream');
    for (const [profile, names] of Object.entries(st.profiles)) {
      for (const n of names) {
        if (!st.packages.some((p) => p.name === n)) throw new Error(`module fixture ${st.name}:${st.stream}: profile ${profile} names ${n}, which is not one of the stream's packages`);
      }
    }
    docs.push({
      document: 'modulemd',
      version: 2,
      data: {
        name: st.name,
        stream: st.stream,
        version: st.version ?? 1,
        context: st.context ?? '00000000',
        arch: st.arch,
        summary: `Kiln test module ${st.name}`,
        description: `Kiln test module ${st.name}, stream ${st.stream}.`,
        license: { module: ['MIT'] },
        ...(st.platform ? { dependencies: [{ buildrequires: { platform: [st.platform] }, requires: { platform: [st.platform] } }] } : {}),
        profiles: Object.fromEntries(Object.entries(st.profiles).map(([name, rpms]) => [name, { rpms }])),
        components: { rpms: Object.fromEntries([...new Set(st.packages.map((p) => p.name))].map((n) => [n, { rationale: 'Kiln test package' }])) },
        artifacts: {
          rpms: st.packages.map(normalize).map((p) => `${p.name}-${p.epoch}:${p.version}-${p.release}.${p.arch}`),
        },
      },
    });
  }
  for (const d of modules.defaults ?? []) {
    docs.push({ document: 'modulemd-defaults', version: 1, data: { module: d.module, stream: d.stream, ...(d.profiles ? { profiles: d.profiles } : {}) } });
  }
  return docs.map((d) => `---\n${YAML.stringify(d)}...\n`).join('');
}

// --- per-run cache --------------------------------------------------------------------------

const CACHE_PREFIX = 'kiln-rpm-fixtures-';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let cacheRootMemo: string | undefined;

/**
 * The cache directory of this test run. ava runs each test file in a child process of one ava
 * process, so the parent pid identifies the run; caches of runs whose process is gone are removed.
 */
export function fixtureCacheRoot(): string {
  if (cacheRootMemo) return cacheRootMemo;
  const runId = process.env.KILN_TEST_FIXTURE_RUN ?? String(process.ppid);
  for (const entry of readdirSync(os.tmpdir())) {
    const m = entry.startsWith(CACHE_PREFIX) ? /^(\d+)$/.exec(entry.slice(CACHE_PREFIX.length)) : null;
    if (m && m[1] !== runId && !alive(Number(m[1]))) {
      rmSync(path.join(os.tmpdir(), entry), { recursive: true, force: true });
    }
  }
  cacheRootMemo = path.join(os.tmpdir(), `${CACHE_PREFIX}${runId}`);
  return cacheRootMemo;
}

const memo = new Map<string, Promise<BuiltRepo>>();

/**
 * `buildRepo` once per test run for this name and package list. Concurrent test processes
 * wait for the first one's build (a lock directory), rather than all building.
 */
export function cachedRepo(name: string, packages: RpmPackage[], options: RepoOptions = {}): Promise<BuiltRepo> {
  check(name, NAME, 'repo name');
  const hash = createHash('sha256').update(JSON.stringify([packages, options])).digest('hex').slice(0, 16);
  const key = `${name}-${hash}`;
  let p = memo.get(key);
  if (!p) {
    p = buildCached(key, packages, options);
    memo.set(key, p);
  }
  return p;
}

async function buildCached(key: string, packages: RpmPackage[], options: RepoOptions): Promise<BuiltRepo> {
  const root = fixtureCacheRoot();
  const dir = path.join(root, key);
  const done = path.join(root, `${key}.json`);
  if (existsSync(done)) return JSON.parse(await readFile(done, 'utf8')) as BuiltRepo;
  return withFixtureLock(key, async () => {
    if (existsSync(done)) return JSON.parse(await readFile(done, 'utf8')) as BuiltRepo;
    await rm(dir, { recursive: true, force: true });
    const repo = await buildRepo(dir, packages, options);
    await writeFile(`${done}.tmp`, JSON.stringify(repo));
    await rename(`${done}.tmp`, done);
    return repo;
  });
}

/**
 * Runs `fn` while holding the run's lock named `key` (a directory under the fixture cache,
 * shared by every ava worker process of the run; a dead holder's lock is taken over).
 */
export async function withFixtureLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const root = fixtureCacheRoot();
  await mkdir(root, { recursive: true });
  const lock = path.join(root, `${key}.lock`);
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(await readFile(path.join(lock, 'pid'), 'utf8').catch(() => '0'));
      if (owner && !alive(owner)) await rm(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`rpm fixture ${key}: timed out waiting for ${lock}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    await writeFile(path.join(lock, 'pid'), String(process.pid));
    return await fn();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

// --- the standard fixture set ---------------------------------------------------------------

/**
 * Two repositories for dependency-resolution tests. `base`:
 * - chain-a → requires chain-b → requires chain-c
 * - webapp requires the virtual `webserver`, provided by httpd-lite (which ships /usr/sbin/httpd-lite)
 * - weak-main recommends weak-extra
 * - multi 1.0 (and multi-user requires multi)
 * - altlib 1.0 (and alt-user requires altlib)
 * - archtool and archlib built for x86_64 and for aarch64 (archtool requires archlib)
 * - broken-dep requires something nothing provides; conflict-x conflicts with conflict-y
 * `updates`: multi 2.0, and altlib-ng 2.0 which provides altlib = 2.0 and obsoletes altlib < 2.0
 * (so it replaces altlib unless excluded: exclude-specs match package names only).
 */
export const STANDARD_FIXTURES: { base: RpmPackage[]; updates: RpmPackage[] } = {
  base: [
    { name: 'chain-a', requires: ['chain-b'] },
    { name: 'chain-b', requires: ['chain-c'] },
    { name: 'chain-c' },
    { name: 'webapp', requires: ['webserver'] },
    {
      name: 'httpd-lite',
      provides: ['webserver'],
      files: [{ path: '/usr/sbin/httpd-lite', content: '#!/bin/sh\necho httpd-lite\n', mode: '0755' }],
    },
    { name: 'weak-main', recommends: ['weak-extra'] },
    { name: 'weak-extra' },
    { name: 'multi', version: '1.0' },
    { name: 'multi-user', requires: ['multi'] },
    { name: 'altlib', version: '1.0' },
    { name: 'alt-user', requires: ['altlib'] },
    ...['x86_64', 'aarch64'].flatMap((arch) => [
      { name: 'archtool', arch, requires: ['archlib'], files: [{ path: '/usr/bin/archtool', content: `${arch}\n`, mode: '0755' }] },
      { name: 'archlib', arch, files: [{ path: '/usr/lib/archlib.txt', content: `${arch}\n` }] },
    ]),
    { name: 'broken-dep', requires: ['not-provided-anywhere'] },
    { name: 'conflict-x', conflicts: ['conflict-y'] },
    { name: 'conflict-y' },
  ],
  updates: [
    { name: 'multi', version: '2.0' },
    { name: 'altlib-ng', version: '2.0', provides: ['altlib = 2.0'], obsoletes: ['altlib < 2.0'] },
  ],
};

export interface StandardRepos {
  base: BuiltRepo;
  updates: BuiltRepo;
}

export async function standardRepos(): Promise<StandardRepos> {
  const [base, updates] = await Promise.all([
    cachedRepo('base', STANDARD_FIXTURES.base),
    cachedRepo('updates', STANDARD_FIXTURES.updates),
  ]);
  return { base, updates };
}

// --- HTTP -----------------------------------------------------------------------------------

export interface ServedDirectory {
  /** Base URL without a trailing slash, e.g. http://127.0.0.1:40123 */
  url: string;
  /** Paths requested so far (for asserting that a test really went over HTTP). */
  requests: string[];
  close(): Promise<void>;
}

/** Serves the files under `root` read-only over HTTP on 127.0.0.1 (random port). */
export async function serveDirectory(root: string): Promise<ServedDirectory> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push(urlPath);
    const file = path.join(root, path.normalize(urlPath));
    if (!file.startsWith(root + path.sep) || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404).end();
      return;
    }
    stat(file).then(
      (st) => {
        if (!st.isFile()) {
          res.writeHead(404).end();
          return;
        }
        res.writeHead(200, { 'content-length': st.size, 'content-type': 'application/octet-stream' });
        if (req.method === 'HEAD') res.end();
        else createReadStream(file).pipe(res);
      },
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** An http URL on a loopback port where nothing listens (the port was free a moment ago). */
export async function unreachableUrl(suffix = '/repo'): Promise<string> {
  const srv = createNetServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return `http://127.0.0.1:${port}${suffix}`;
}

// --- a modular repository -------------------------------------------------------------------

/**
 * A modular repository for solving for `arch`:
 * - module `kilnmod`, streams `1` and `2` (default stream 1, default profile `default`): each
 *   stream has kilnmod-tool (epoch 1) and kilnmod-extra (requires kilnmod-tool) at the stream's
 *   version; profiles `default` (kilnmod-tool) and `full` (both)
 * - module `othermod`, stream `stable`, no defaults: othermod-pkg (epoch 0), unavailable until
 *   enabled. osbuild's solver reports no module whose installed packages all have epoch 0 (see
 *   libexec/kiln-depsolve-dnf); kilnmod is reported by both solvers, othermod by Kiln's only.
 * - non-modular kilnmod-tool 3.0 (hidden by modular filtering while a kilnmod stream is active)
 *   and tool-user, which requires kilnmod-tool (so the stream decides which one it gets)
 */
export function modularFixture(arch: string): { packages: RpmPackage[]; modules: ModularMetadata } {
  const stream = (name: string, s: string, version: string, packages: RpmPackage[], profiles: Record<string, string[]>): ModuleStreamFixture => ({
    name,
    stream: s,
    version: 20250101000000 + Number(s.replace(/\D/g, '') || 0),
    context: 'c0ffee43',
    arch,
    profiles,
    packages: packages.map((p) => ({ version, release: `1.module_${name}${s}`, ...p })),
  });
  const kilnmod = (s: string, version: string) =>
    stream('kilnmod', s, version, [{ name: 'kilnmod-tool', epoch: 1 }, { name: 'kilnmod-extra', requires: ['kilnmod-tool'] }], {
      default: ['kilnmod-tool'],
      full: ['kilnmod-tool', 'kilnmod-extra'],
    });
  return {
    packages: [
      { name: 'kilnmod-tool', version: '3.0' },
      { name: 'tool-user', requires: ['kilnmod-tool'] },
    ],
    modules: {
      streams: [kilnmod('1', '1.0'), kilnmod('2', '2.0'), stream('othermod', 'stable', '1.0', [{ name: 'othermod-pkg' }], { default: ['othermod-pkg'] })],
      defaults: [{ module: 'kilnmod', stream: '1', profiles: { '1': ['default'], '2': ['default'] } }],
    },
  };
}

export function modularRepo(arch = 'x86_64'): Promise<BuiltRepo> {
  const { packages, modules } = modularFixture(arch);
  return cachedRepo(`modular-${arch}`, packages, { modules });
}
