/**
 * The stand-in's host side (KILN_STANDIN_HOST_EFFECTS=1, root): what osbuild sets up on the
 * build host while it builds, and tears down when it ends or gets SIGINT, so that a caller's
 * stop and cleanup can be tested against real mounts, loop devices and helper processes:
 *   <store>/tmp/host*            the host build root: <root> bound read-only onto itself, /usr
 *                                bound read-only under it (osbuild/objectstore.py HostTree)
 *   <store>/tmp/osbuild-tmp-*    a stage's /var and /proc overrides (osbuild/buildroot.py)
 *   <store>/tmp/buildroot-tmp-*  a stage's inputs/, mounts/, api/ (osbuild/pipeline.py)
 *   <rundir>/osbuild-dev-*       a stage's /dev: a tmpfs with device nodes bound into it
 *   <store>/stage/uuid-*         the tree being built, its object.lock held while alive
 *                                (osbuild/util/fscache.py)
 *   loop devices and mounts      held by service processes that ignore SIGTERM and SIGINT
 *                                (service.mjs, as osbuild's device and mount services)
 * Killed with SIGTERM (or SIGKILL), the stand-in leaves its own mounts and directories behind,
 * as osbuild does.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SERVICE = fileURLToPath(new URL('./service.mjs', import.meta.url));
const NAME_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789_';

/** tempfile.mkdtemp's naming: prefix + 8 random characters. */
function mkdtemp(dir: string, prefix: string): string {
  const bytes = randomBytes(8);
  const name = prefix + [...bytes].map((b) => NAME_CHARS[b % NAME_CHARS.length]).join('');
  const full = path.join(dir, name);
  mkdirSync(full, { recursive: true });
  return full;
}

const mount = (...args: string[]) => execFileSync('mount', args, { stdio: ['ignore', 'ignore', 'pipe'] });
const umount = (...args: string[]) => execFileSync('umount', args, { stdio: ['ignore', 'ignore', 'pipe'] });

interface Service {
  child: ChildProcess;
  exited: Promise<void>;
}

export interface StageRoot {
  dev: string;
  mounts: string;
  services: Service[];
  close(): Promise<void>;
}

export class Host {
  readonly #store: string;
  readonly #rundir: string;
  readonly #log: (message: string) => void;
  #hostTree: string | undefined;
  #hostMounts: string[] = [];
  #objects: { dir: string; locker: ChildProcess }[] = [];
  #stages = new Set<StageRoot>();

  constructor(store: string, rundir: string, log: (message: string) => void) {
    this.#store = path.resolve(store);
    this.#rundir = rundir;
    this.#log = log;
    mkdirSync(path.join(this.#store, 'tmp'), { recursive: true });
    mkdirSync(path.join(this.#store, 'stage'), { recursive: true });
  }

  /** The tree a pipeline writes, in a staging entry whose lock lives as long as this process. */
  async newObject(): Promise<string> {
    const dir = path.join(this.#store, 'stage', `uuid-${randomBytes(16).toString('hex')}`);
    mkdirSync(path.join(dir, 'data', 'tree'), { recursive: true });
    const lock = path.join(dir, 'object.lock');
    writeFileSync(lock, '');
    // flock(1) holds the lock while `cat` waits on our pipe: like osbuild's own lock, it goes
    // when this process goes, not at a signal to the process group
    const locker = spawn('sh', ['-c', 'trap "" INT TERM; exec flock --exclusive "$0" cat', lock], { stdio: ['pipe', 'ignore', 'ignore'] });
    await new Promise<void>((resolve, reject) => {
      locker.once('spawn', () => resolve());
      locker.once('error', reject);
    });
    this.#objects.push({ dir, locker });
    return path.join(dir, 'data', 'tree');
  }

  hostTree(): string {
    if (this.#hostTree) return this.#hostTree;
    const root = mkdtemp(path.join(this.#store, 'tmp'), 'host');
    mkdirSync(path.join(root, 'usr'));
    mount('--rbind', '--make-rprivate', '-o', 'ro', root, root);
    this.#hostMounts.push(root);
    mount('--rbind', '--make-rprivate', '-o', 'ro', '/usr', path.join(root, 'usr'));
    this.#hostMounts.push(path.join(root, 'usr'));
    this.#hostTree = root;
    return root;
  }

  /** A stage's build root directories and /dev; devices and mounts are services. */
  stageRoot(): StageRoot {
    mkdirSync(this.#rundir, { recursive: true });
    const dev = mkdtemp(this.#rundir, 'osbuild-dev-');
    const tmp = mkdtemp(path.join(this.#store, 'tmp'), 'osbuild-tmp-');
    mkdirSync(path.join(tmp, 'var'));
    mkdirSync(path.join(tmp, 'proc'));
    writeFileSync(path.join(tmp, 'proc', 'cmdline'), 'root=/dev/osbuild\n');
    const brtmp = mkdtemp(path.join(this.#store, 'tmp'), 'buildroot-tmp-');
    for (const d of ['inputs', 'mounts', 'api']) mkdirSync(path.join(brtmp, d));
    mount('-t', 'tmpfs', '-o', 'nosuid', 'none', dev);
    writeFileSync(path.join(dev, 'null'), '');
    mount('--bind', '/dev/null', path.join(dev, 'null'));
    const root: StageRoot = {
      dev,
      mounts: path.join(brtmp, 'mounts'),
      services: [],
      close: async () => {
        this.#stages.delete(root);
        // services stop in reverse order: mounts before the devices under them
        for (const s of root.services.reverse()) {
          s.child.stdin?.end();
          await s.exited;
        }
        umount('--lazy', dev);
        rmSync(dev, { recursive: true, force: true });
        rmSync(tmp, { recursive: true, force: true });
        rmSync(brtmp, { recursive: true, force: true });
      },
    };
    this.#stages.add(root);
    return root;
  }

  /** Starts a service (service.mjs) for a stage; resolves with the first line it prints. */
  async service(root: StageRoot, uid: string, kind: 'loop' | 'mount', target: string): Promise<string> {
    const child = spawn(process.execPath, [SERVICE, kind, target], { stdio: ['pipe', 'pipe', 'pipe'] });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    root.services.push({ child, exited });
    let out = '';
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    const line = await new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', (d) => {
        out += d;
        if (out.includes('\n')) resolve(out.split('\n')[0]);
      });
      child.once('exit', (code) => reject(new Error(`${uid}: service exited with ${code}: ${err.trim()}`)));
    });
    this.#log(`${uid} (org.osbuild.${kind === 'loop' ? 'loopback' : 'tmpfs'}): ${kind === 'loop' ? `${path.basename(line)} acquired (locked: False)` : `mounting ${line}`}\n`);
    return line;
  }

  /** What osbuild's context managers undo on the way out, normal or KeyboardInterrupt. */
  async teardown(): Promise<void> {
    for (const root of [...this.#stages].reverse()) await root.close();
    for (const m of this.#hostMounts.reverse()) umount('--lazy', m);
    this.#hostMounts = [];
    if (this.#hostTree) rmSync(this.#hostTree, { recursive: true, force: true });
    this.#hostTree = undefined;
    for (const { dir, locker } of this.#objects) {
      rmSync(dir, { recursive: true, force: true });
      locker.stdin?.end();
    }
    this.#objects = [];
  }
}
