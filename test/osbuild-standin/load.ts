/**
 * What osbuild checks when it loads a manifest that passed schema validation
 * (osbuild/formats/v2.py load(), osbuild/meta.py detect_runner()): pipeline references, the
 * runner, device parents, source references, mounts. osbuild raises there, so it exits 1 with
 * a traceback on stderr and prints nothing on stdout (no JSON, even with --json).
 */

type Json = Record<string, any>;

/** The runners in osbuild 191's runners/ directory. */
const RUNNERS = [
  'org.osbuild.AutoSD9', 'org.osbuild.almalinux8', 'org.osbuild.almalinux9', 'org.osbuild.arch',
  'org.osbuild.asahi-fedora-remix', 'org.osbuild.autosd', 'org.osbuild.centos8', 'org.osbuild.centos9',
  'org.osbuild.debian', 'org.osbuild.eln11', 'org.osbuild.fedora-asahi-remix', 'org.osbuild.fedora30',
  'org.osbuild.fedora38', 'org.osbuild.linux', 'org.osbuild.ol9', 'org.osbuild.rhel7', 'org.osbuild.rhel81',
  'org.osbuild.rhel82', 'org.osbuild.rhivos', 'org.osbuild.ubuntu1804',
];

/** RunnerInfo.parse_name: "<name><version>", the version the trailing digits (0 when none). */
function parseRunner(name: string): [string, number] {
  let i = name.length - 1;
  while (i > 0 && name[i] >= '0' && name[i] <= '9') i--;
  const digits = name.slice(i + 1);
  return [name.slice(0, i + 1), digits ? Number(digits) : 0];
}

/** Index.detect_runner: the same distro with the highest version not above the one asked for. */
function detectRunner(name: string): string {
  const [distro, version] = parseRunner(name);
  const candidates = RUNNERS.map((r) => [r, ...parseRunner(r)] as const)
    .filter(([, d]) => d === distro)
    .sort((a, b) => a[2] - b[2]);
  for (const [runner, , v] of candidates.reverse()) if (v <= version) return runner;
  throw new LoadError('ValueError', `No suitable runner for ${distro}`, 'osbuild/meta.py', 806, 'detect_runner');
}

export class LoadError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly file: string,
    readonly line: number,
    readonly fn: string,
  ) {
    super(message);
  }

  /** What Python prints for the uncaught exception. */
  traceback(): string {
    return [
      'Traceback (most recent call last):',
      '  File "/usr/lib/python3/dist-packages/osbuild/main_cli.py", line 191, in osbuild_cli',
      '    manifest = fmt.load(desc, index)',
      '               ^^^^^^^^^^^^^^^^^^^^^',
      `  File "/usr/lib/python3/dist-packages/${this.file}", line ${this.line}, in ${this.fn}`,
      `${this.type}: ${this.message}`,
      '',
    ].join('\n');
  }
}

/** Python's repr of a set of strings, as in "Unknown source reference(s) {'sha256:…'}". */
const pySet = (items: string[]) => `{${items.map((s) => `'${s}'`).join(', ')}}`;

function sortDevices(devices: Json): string[] {
  const result: string[] = [];
  let todo = Object.keys(devices);
  while (todo.length) {
    const before = todo.length;
    const next: string[] = [];
    for (const name of todo) {
      const parent = devices[name]?.parent;
      if (parent && !result.includes(parent)) {
        if (!todo.includes(parent)) throw new LoadError('ValueError', `Missing parent device '${parent}' for '${name}'`, 'osbuild/formats/v2.py', 209, 'sort_devices');
        next.push(name);
        continue;
      }
      result.push(name);
    }
    todo = next;
    if (todo.length === before) throw new LoadError('ValueError', "Cycle detected in 'devices'", 'osbuild/formats/v2.py', 223, 'sort_devices');
  }
  return result;
}

function refNames(refs: unknown): string[] {
  if (Array.isArray(refs)) {
    return refs.map((r) => {
      if (typeof r === 'string') return r;
      if (r && typeof r === 'object') return String((r as Json).id);
      throw new LoadError('ValueError', `Invalid reference: ${JSON.stringify(r)}`, 'osbuild/formats/v2.py', 262, 'make_ref');
    });
  }
  return Object.keys((refs ?? {}) as Json);
}

/** Throws LoadError where osbuild's loader would raise. */
export function loadManifest(manifest: Json): void {
  const sourceRefs = new Set<string>();
  for (const src of Object.values((manifest.sources ?? {}) as Json)) for (const id of Object.keys(src?.items ?? {})) sourceRefs.add(id);
  const loaded = new Set<string>();
  const resolve = (ref: string) => {
    const name = ref.slice(5);
    if (!loaded.has(name)) throw new LoadError('ValueError', `Unknown pipeline reference: name:${name}`, 'osbuild/formats/v2.py', 182, 'resolve_ref');
  };
  for (const pl of (manifest.pipelines ?? []) as Json[]) {
    if (typeof pl.build === 'string' && pl.build.startsWith('name:')) resolve(pl.build);
    if (pl.runner) detectRunner(pl.runner);
    for (const st of (pl.stages ?? []) as Json[]) {
      const devices = (st.devices ?? {}) as Json;
      sortDevices(devices);
      for (const ip of Object.values((st.inputs ?? {}) as Json)) {
        const refs = refNames(ip?.references);
        if (ip?.origin === 'org.osbuild.pipeline') {
          for (const r of refs) if (r.startsWith('name:')) resolve(r);
        } else if (ip?.origin === 'org.osbuild.source') {
          const unknown = refs.filter((r) => !sourceRefs.has(r));
          if (unknown.length) throw new LoadError('ValueError', `Unknown source reference(s) ${pySet(unknown)}`, 'osbuild/formats/v2.py', 277, 'load_input');
        }
      }
      const seen = new Set<string>();
      for (const m of (st.mounts ?? []) as Json[]) {
        if (seen.has(m.name)) throw new LoadError('ValueError', `Duplicated mount '${m.name}'`, 'osbuild/formats/v2.py', 290, 'load_mount');
        seen.add(m.name);
        if (m.source && !(m.source in devices)) {
          throw new LoadError('ValueError', `Unknown device '${m.source}' for mount '${m.name}'`, 'osbuild/formats/v2.py', 302, 'load_mount');
        }
      }
    }
    loaded.add(pl.name);
  }
}
