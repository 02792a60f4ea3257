/**
 * Reads what a bootable container says about itself, where osbuild/images reads it
 * (pkg/bootc resolver.go, pkg/bib/osinfo): os-release, the install configuration `bootc install
 * print-configuration` merges (/usr/lib/bootc/install/*.toml, later files win), the SELinux
 * policy (etc/selinux/config), the UEFI vendor (usr/lib/bootupd/updates/EFI/<vendor>, else
 * usr/lib/efi/shim/<v>/EFI/<vendor>) and the unpacked size. Upstream runs the container with
 * podman and asks bootc; Kiln has neither on its workers, so the image pinned by digest is
 * copied with skopeo (layers decompressed) and its layers are read as tar streams, in order,
 * whiteouts applied: nothing is unpacked, memory stays flat with the image's size.
 */
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parse as parseToml } from 'smol-toml';
import { parse as parseYaml } from 'yaml';
import { Parser, type ReadEntry } from 'tar';
import { InvalidInputError, KilnError } from '../errors.js';
import type { Logger } from '../log.js';
import { BOOTC_ROOT_FS, type BootcContainerInfo, type BootcIsoInfo, type BootcInfo, type BootcOptions, type BootcRootFs, type OsRelease } from './bootc.js';
import { classifySkopeo, ContainerResolveError, containerPlatform, resolveContainer, type ContainerSpec, type ResolveOptions } from './resolve.js';

/** Files whose content is read (small ones: os-release, TOML, the SELinux config). */
const READ = [/^usr\/lib\/os-release$/, /^etc\/os-release$/, /^usr\/lib\/bootc\/install\/[^/]+\.toml$/, /^etc\/selinux\/config$/, /^usr\/lib\/(?:bootc-image-builder|image-builder\/bootc)\/(?:disk\.yaml|config\.json|config\.toml|iso\.yaml)$/];
/** Where upstream reads a container's own disk layout and customizations (pkg/bib/osinfo). */
const EMBEDDED = /^usr\/lib\/(?:bootc-image-builder|image-builder\/bootc)\/(?!iso\.yaml$)/;
/** The ISO settings a container gives its generic ISO, first found first (pkg/bib/osinfo readISOYaml). */
const ISO_YAML = ['usr/lib/image-builder/bootc/iso.yaml', 'usr/lib/bootc-image-builder/iso.yaml'];
/** Directories whose names are the UEFI vendor. */
const VENDOR = [/^usr\/lib\/bootupd\/updates\/EFI\/([^/]+)\//, /^usr\/lib\/efi\/shim\/[^/]+\/EFI\/([^/]+)\//];
const MAX_FILE = 1024 * 1024;

interface LayerState {
  files: Map<string, { data?: Buffer; link?: string }>;
  /** Paths under an EFI vendor directory → the vendor. */
  vendors: Map<string, string>;
  /** usr/lib/modules/<version>/vmlinuz paths present → the version. */
  kernels: Map<string, string>;
}

const KERNEL = /^usr\/lib\/modules\/([^/]+)\/vmlinuz$/;

const norm = (p: string) => p.replace(/^\.?\/+/, '').replace(/\/+$/, '');

function applyWhiteout(state: LayerState, p: string): boolean {
  const base = path.posix.basename(p);
  if (!base.startsWith('.wh.')) return false;
  const dir = path.posix.dirname(p);
  const opaque = base === '.wh..wh..opq';
  const gone = opaque ? dir : path.posix.join(dir, base.slice(4));
  const under = (key: string) => key === gone || key.startsWith(`${gone}/`);
  for (const key of [...state.files.keys()]) if (under(key)) state.files.delete(key);
  for (const key of [...state.vendors.keys()]) if (under(key)) state.vendors.delete(key);
  for (const key of [...state.kernels.keys()]) if (under(key)) state.kernels.delete(key);
  return true;
}

function readLayer(file: string, state: LayerState): Promise<void> {
  const parser = new Parser({
    onReadEntry: (entry: ReadEntry) => {
      const p = norm(entry.path);
      if (applyWhiteout(state, p)) return entry.resume();
      for (const v of VENDOR) {
        const m = v.exec(`${p}/`);
        if (m && m[1] !== 'BOOT') state.vendors.set(p, m[1]);
      }
      const k = KERNEL.exec(p);
      if (k && (entry.type === 'File' || entry.type === 'SymbolicLink' || entry.type === 'Link')) state.kernels.set(p, k[1]);
      if (!READ.some((r) => r.test(p))) return entry.resume();
      if (entry.type === 'SymbolicLink') {
        state.files.set(p, { link: entry.linkpath });
        return entry.resume();
      }
      if (entry.type !== 'File' || (entry.size ?? 0) > MAX_FILE) return entry.resume();
      const chunks: Buffer[] = [];
      entry.on('data', (c: Buffer) => chunks.push(c));
      entry.on('end', () => state.files.set(p, { data: Buffer.concat(chunks) }));
    },
  });
  return pipeline(createReadStream(file), parser as unknown as NodeJS.WritableStream);
}

/** A file's content, symlinks followed inside the image (never on the host). */
function fileIn(state: LayerState, p: string, depth = 0): Buffer | undefined {
  const f = state.files.get(p);
  if (!f || depth > 8) return undefined;
  if (f.data) return f.data;
  const target = f.link!.startsWith('/') ? norm(f.link!) : path.posix.normalize(path.posix.join(path.posix.dirname(p), f.link!));
  return fileIn(state, norm(target), depth + 1);
}

/** os-release's KEY=value lines (quotes removed). */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z0-9_]+)=(.*)$/.exec(line);
    if (!m) continue;
    let v = m[2].trim();
    if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) v = v.slice(1, -1).replace(/\\(["\\$`])/g, '$1');
    out[m[1]] = v;
  }
  return out;
}

/** iso.yaml (label, kernel_args, grub2 {default, timeout, entries}), checked: it becomes boot loader configuration. */
export function parseIsoYaml(text: string, where: string): BootcIsoInfo {
  let doc: any;
  try {
    doc = parseYaml(text) ?? {};
  } catch (err) {
    throw new KilnError('KILN_BOOTC_INFO', `${where} is not YAML: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  const bad = (what: string): never => {
    throw new KilnError('KILN_BOOTC_INFO', `${where}: ${what}`, {});
  };
  if (typeof doc !== 'object' || Array.isArray(doc)) bad('is not a mapping');
  const str = (v: unknown, what: string) => (v === undefined || v === null ? undefined : typeof v === 'string' ? v : bad(`${what} is not a string`));
  const int = (v: unknown, what: string) => (v === undefined || v === null ? undefined : Number.isInteger(v) && (v as number) >= 0 ? (v as number) : bad(`${what} is not a whole number`));
  const out: BootcIsoInfo = {};
  const label = str(doc.label, 'label');
  if (label) out.label = label;
  if (doc.kernel_args !== undefined && doc.kernel_args !== null) {
    if (!Array.isArray(doc.kernel_args)) bad('kernel_args is not a list');
    out.kernel_args = doc.kernel_args.map((a: unknown, i: number) => str(a, `kernel_args[${i}]`)!);
  }
  const g = doc.grub2 ?? {};
  if (typeof g !== 'object' || Array.isArray(g)) bad('grub2 is not a mapping');
  const grub2: NonNullable<BootcIsoInfo['grub2']> = {};
  const def = int(g.default, 'grub2.default');
  const timeout = int(g.timeout, 'grub2.timeout');
  if (def !== undefined) grub2.default = def;
  if (timeout !== undefined) grub2.timeout = timeout;
  if (g.entries !== undefined && g.entries !== null) {
    if (!Array.isArray(g.entries)) bad('grub2.entries is not a list');
    grub2.entries = g.entries.map((e: any, i: number) => ({ name: str(e?.name, `grub2.entries[${i}].name`) ?? '', linux: str(e?.linux, `grub2.entries[${i}].linux`) ?? '', initrd: str(e?.initrd, `grub2.entries[${i}].initrd`) ?? '' }));
  }
  if (Object.keys(grub2).length) out.grub2 = grub2;
  return out;
}

/** The install configuration as bootc merges it: files in name order, later keys win. */
export function mergeInstallConfig(files: { name: string; text: string }[]): { root_fs?: string; bootloader?: string } {
  let rootFs: string | undefined;
  let bootloader: string | undefined;
  for (const f of [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    let doc: Record<string, any>;
    try {
      doc = parseToml(f.text) as Record<string, any>;
    } catch (err) {
      throw new KilnError('KILN_BOOTC_INFO', `the container's install configuration ${f.name} is not TOML: ${(err as Error).message.split('\n')[0]}`, { cause: err });
    }
    const install = doc.install ?? {};
    // filesystem.root.type, or the older root-fs-type
    const fs = install.filesystem?.root?.type ?? install['root-fs-type'];
    if (typeof fs === 'string') rootFs = fs;
    if (typeof install.bootloader === 'string') bootloader = install.bootloader;
  }
  return { ...(rootFs ? { root_fs: rootFs } : {}), ...(bootloader ? { bootloader } : {}) };
}

function selinuxPolicy(text: string): string | undefined {
  let policy: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    if (line.slice(0, eq).trim() === 'SELINUXTYPE') policy = line.slice(eq + 1).trim();
  }
  return policy || undefined;
}

export interface ReadBootcOptions {
  /** Where the image is copied while it is read (removed afterwards). */
  workDir: string;
  signal?: AbortSignal;
  timeoutMs?: number;
  skopeo?: string;
  log?: Logger;
}

function skopeoCopy(spec: ContainerSpec, dest: string, field: string, opts: ReadBootcOptions): Promise<void> {
  const ref = `${spec.source}@${spec.digest}`;
  const args = ['copy', '--quiet', '--dest-decompress', ...(spec.tls_verify !== undefined ? [`--src-tls-verify=${spec.tls_verify}`] : []), `docker://${ref}`, `dir:${dest}`];
  return new Promise((resolve, reject) => {
    execFile(opts.skopeo ?? 'skopeo', args, { timeout: opts.timeoutMs ?? 30 * 60_000, killSignal: 'SIGKILL', maxBuffer: 4 * 1024 * 1024, ...(opts.signal ? { signal: opts.signal } : {}) }, (err, _out, stderr) => {
      if (!err) return resolve();
      if (opts.signal?.aborted) return reject(opts.signal.reason ?? err);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return reject(new KilnError('KILN_CONTAINER_RESOLVE', 'skopeo is not installed on this worker (it reads bootable containers)', { cause: err }));
      const said = String(stderr).trim().split('\n').slice(-2).join(' ').replace(/^time="[^"]*" level=fatal msg="(.*)"$/, '$1');
      if ((err as { killed?: boolean }).killed) return reject(new ContainerResolveError(field, ref, 'timeout', 'copying the image took too long', err));
      reject(new ContainerResolveError(field, ref, classifySkopeo(said), said, err));
    });
  });
}

/** Reads the container's own information; `field` names it in errors (image_requests[0].bootc.ref). */
export async function readBootcContainer(spec: ContainerSpec, field: string, opts: ReadBootcOptions): Promise<BootcContainerInfo> {
  const dir = await mkdtemp(path.join(opts.workDir, 'bootc-'));
  try {
    const image = path.join(dir, 'image');
    await skopeoCopy(spec, image, field, opts);
    const manifest = JSON.parse(await readFile(path.join(image, 'manifest.json'), 'utf8')) as { config?: { digest: string }; layers?: { digest: string }[] };
    const config = manifest.config ? (JSON.parse(await readFile(path.join(image, manifest.config.digest.replace(/^sha256:/, '')), 'utf8')) as { architecture?: string }) : {};
    const state: LayerState = { files: new Map(), vendors: new Map(), kernels: new Map() };
    let size = 0;
    for (const layer of manifest.layers ?? []) {
      const file = path.join(image, layer.digest.replace(/^sha256:/, ''));
      size += (await stat(file)).size;
      try {
        await readLayer(file, state);
      } catch (err) {
        throw new KilnError('KILN_BOOTC_INFO', `${field}: layer ${layer.digest} of ${spec.source}@${spec.digest} is not a tar archive: ${(err as Error).message}`, { cause: err });
      }
      await rm(file, { force: true });
    }
    const osText = fileIn(state, 'usr/lib/os-release') ?? fileIn(state, 'etc/os-release');
    let osRelease: OsRelease | undefined;
    if (osText) {
      const kv = parseOsRelease(osText.toString('utf8'));
      if (kv.ID && kv.VERSION_ID && kv.NAME) {
        osRelease = {
          id: kv.ID,
          version_id: kv.VERSION_ID,
          name: kv.NAME,
          ...(kv.VARIANT_ID ? { variant_id: kv.VARIANT_ID } : {}),
          ...(kv.PLATFORM_ID ? { platform_id: kv.PLATFORM_ID } : {}),
          ...(kv.ID_LIKE ? { id_like: kv.ID_LIKE.split(' ').filter(Boolean) } : {}),
        };
      }
    }
    const toml = [...state.files.keys()].filter((k) => k.startsWith('usr/lib/bootc/install/')).map((k) => ({ name: path.posix.basename(k), text: (fileIn(state, k) ?? Buffer.alloc(0)).toString('utf8') }));
    const install = mergeInstallConfig(toml);
    const selinux = fileIn(state, 'etc/selinux/config');
    const policy = selinux ? selinuxPolicy(selinux.toString('utf8')) : undefined;
    const embedded = [...state.files.keys()].filter((k) => EMBEDDED.test(k) && fileIn(state, k) !== undefined).sort();
    const isoFile = ISO_YAML.find((f) => fileIn(state, f) !== undefined);
    const iso = isoFile ? parseIsoYaml(fileIn(state, isoFile)!.toString('utf8'), `${field}: /${isoFile}`) : undefined;
    // upstream takes the first directory that is not BOOT (bootupd's first, then shim's)
    const vendors = [...state.vendors].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
    const vendor = vendors[0];
    // upstream reads usr/lib/modules in name order and takes the first version with a vmlinuz
    const kernel = [...state.kernels.values()].sort()[0];
    const info: BootcContainerInfo = {
      ...(config.architecture ? { arch: config.architecture } : {}),
      ...(osRelease ? { os_release: osRelease } : {}),
      ...install,
      ...(policy ? { selinux_policy: policy } : {}),
      ...(vendor ? { uefi_vendor: vendor } : {}),
      ...(embedded.length ? { embedded } : {}),
      size,
      ...(kernel ? { kernel } : {}),
      ...(iso ? { iso } : {}),
    };
    opts.log?.info({ field, source: spec.source, digest: spec.digest, rootFs: info.root_fs, osId: osRelease?.id, osVersion: osRelease?.version_id, size }, 'bootc container read');
    return info;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The image request's bootc containers resolved (pinned by digest, as blueprint containers are)
 * and read: what upstream's generic bootc distro is made from. `field` is the request's
 * `bootc` (image_requests[0].bootc); errors name ref, build-ref or default-fs under it.
 */
export async function resolveBootc(options: BootcOptions, field: string, opts: ResolveOptions & Pick<ReadBootcOptions, 'workDir'> & { iso?: boolean }): Promise<BootcInfo> {
  const ref = options.ref;
  if (!ref) throw new InvalidInputError(`${field}.ref`, 'is required');
  const read = async (key: 'ref' | 'build-ref', source: string) => {
    const spec = await resolveContainer({ source, name: source }, `${field}.${key}`, opts, `${field}.${key}`);
    const info = await readBootcContainer(spec, `${field}.${key}`, { workDir: opts.workDir, ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.skopeo ? { skopeo: opts.skopeo } : {}), ...(opts.log ? { log: opts.log } : {}) });
    const want = containerPlatform(opts.arch).architecture;
    if (info.arch && info.arch !== want) {
      throw new ContainerResolveError(`${field}.${key}`, source, 'arch', `the image is for ${info.arch}, the build for ${opts.arch} (${want})`);
    }
    return { spec, info };
  };
  const target = await read('ref', ref);
  const build = options['build-ref'] !== undefined ? await read('build-ref', options['build-ref']) : undefined;
  const osRelease = target.info.os_release;
  if (!osRelease) {
    throw new KilnError('KILN_BOOTC_INFO', `${field}.ref: ${ref} has no os-release (usr/lib/os-release or etc/os-release with ID, VERSION_ID and NAME): it is not a bootable container Kiln can make a disk of`, { details: { field: `${field}.ref`, ref } });
  }
  const fs = options['default-fs'] ?? target.info.root_fs;
  if (!fs) {
    throw new KilnError('KILN_BOOTC_INFO', `${field}.ref: ${ref} names no root file system (usr/lib/bootc/install/*.toml has no [install.filesystem.root] type); give ${field}.default-fs (ext4, xfs or btrfs)`, { details: { field: `${field}.default-fs`, ref } });
  }
  if (!(BOOTC_ROOT_FS as readonly string[]).includes(fs)) {
    throw new KilnError('KILN_BOOTC_INFO', `${field}.ref: ${ref}'s install configuration names root file system ${JSON.stringify(fs)}, which Kiln cannot make (${BOOTC_ROOT_FS.join(', ')}); give ${field}.default-fs`, { details: { field: `${field}.default-fs`, ref, rootFs: fs } });
  }
  // an ISO of the container (`iso`; installer-payload-ref makes one) boots its kernel
  const iso = opts.iso ?? options['installer-payload-ref'] !== undefined;
  // upstream builds disks from these instead of its own table and the request's customizations: never
  // ignored silently (its ISOs do not read them)
  if (!iso && target.info.embedded?.length) {
    throw new KilnError(
      'KILN_BOOTC_INFO',
      `${field}.ref: ${ref} brings its own image builder configuration (${target.info.embedded.map((f) => `/${f}`).join(', ')}: a disk layout or customizations), which Kiln does not read yet; build it with image-builder, or from a container without it`,
      { details: { field: `${field}.ref`, ref, files: target.info.embedded } },
    );
  }
  const bootloader = target.info.bootloader;
  if (bootloader !== undefined && !['grub', 'systemd', 'none'].includes(bootloader)) {
    throw new KilnError('KILN_BOOTC_INFO', `${field}.ref: ${ref}'s install configuration names boot loader ${JSON.stringify(bootloader)}; bootc install takes grub, systemd or none`, { details: { field: `${field}.ref`, ref, bootloader } });
  }
  // upstream boots the container's own kernel (bootc.ref), with the initrd beside it
  if (iso && !target.info.kernel) {
    throw new KilnError('KILN_BOOTC_INFO', `${field}.ref: ${ref} has no kernel (no usr/lib/modules/<version>/vmlinuz): it cannot boot an ISO`, { details: { field: `${field}.ref`, ref } });
  }
  let payload: ContainerSpec | undefined;
  if (options['installer-payload-ref'] !== undefined) {
    const source = options['installer-payload-ref'];
    payload = await resolveContainer({ source, name: source }, `${field}.installer-payload-ref`, opts, `${field}.installer-payload-ref`);
  }
  return {
    container: target.spec,
    ...(build ? { build_container: build.spec } : {}),
    ...(payload ? { payload } : {}),
    ...(target.info.kernel ? { kernel: target.info.kernel } : {}),
    ...(iso && target.info.iso ? { iso: target.info.iso } : {}),
    os_release: osRelease,
    default_fs: fs as BootcRootFs,
    ...(target.info.bootloader ? { bootloader: target.info.bootloader } : {}),
    ...(target.info.selinux_policy ? { selinux_policy: target.info.selinux_policy } : {}),
    ...(build?.info.selinux_policy ? { build_selinux_policy: build.info.selinux_policy } : {}),
    ...(target.info.uefi_vendor ? { uefi_vendor: target.info.uefi_vendor } : {}),
    size: target.info.size,
  };
}
