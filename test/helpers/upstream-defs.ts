/**
 * The upstream side of the golden comparison (issue 13): reads osbuild/images' YAML image
 * definitions (data/distrodefs, reference copy in ../shared/reference/upstream/images-distrodefs/,
 * never copied into this repository) and resolves a (distro, image type, arch) the way images'
 * Go code does at 1146ec23 (pkg/distro/defs/loader.go, pkg/distro/generic, pkg/disk), into a
 * plain JSON `ComparableDefinition`. Kiln's resolver produces the same shape from Kiln's own
 * definitions; the golden test compares the two.
 *
 * Where upstream depends on Go map order (several matching conditions of one block), this module
 * applies the conditions in sorted order and says so in `warnings` instead of picking silently.
 * Where upstream would fail to load (unknown keys, bad sizes, two platform overrides matching),
 * it throws an `UpstreamDefsError` naming the file and the place.
 *
 * Lists with set semantics (packages, aliases, blueprint options, partitioning modes) are sorted
 * and deduplicated; lists whose order reaches the manifest (exports, services, kernel options and
 * everything inside the configs) keep the YAML order.
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { upstreamLayout } from './upstream-layout.js';
import { findReference } from './reference.js';

export { upstreamLayout } from './upstream-layout.js';

/** Environment variable naming another copy of images' data/distrodefs. */
export const UPSTREAM_DEFS_ENV = 'KILN_UPSTREAM_DEFS';

/** The distro versions Kiln builds; the golden comparison covers each of them. */
export const KILN_DISTROS: readonly string[] = [
  ...[41, 42, 43, 44, 45].map((v) => `fedora-${v}`),
  'centos-9',
  ...Array.from({ length: 11 }, (_, i) => `rhel-9.${i}`),
  'centos-10',
  ...Array.from({ length: 11 }, (_, i) => `rhel-10.${i}`),
];

/** The definition families Kiln needs (upstream `defs_path`); others are not loaded. */
const FAMILIES = new Set(['fedora', 'rhel-9', 'rhel-10']);

const GiB = 1024 ** 3;

export class UpstreamDefsError extends Error {
  readonly code = 'UPSTREAM_DEFS';
}

// ---------------------------------------------------------------------------------------------
// The comparable shapes (what both sides of the golden comparison produce)

/** A distro version after upstream's name resolution and templating. */
export interface ComparableDistro {
  /** Canonical name, e.g. "rhel-9.6" (also for a request of "rhel-96"), "centos-9", "fedora-43". */
  name: string;
  /** The name split as upstream parses it; `minor` is null when the name has none (centos-9, fedora-43). */
  id: { name: string; major: number; minor: number | null };
  /** The version conditions compare against: a missing minor counts as 999 ("9.999"), so centos-9 is newer than any rhel-9.N. */
  compare_version: string;
  /** Code-path family of the distro (fedora, rhel-9, rhel-10). */
  distro_like: string;
  /** Product name ("Fedora", "Red Hat Enterprise Linux", "CentOS Stream"). */
  product: string;
  /** Version string written into the image (installer .buildstamp, dnf releasever variable): "43", "9.6", "9-stream". */
  os_version: string;
  /** $releasever used when depsolving. */
  release_version: string;
  /** DNF module_platform_id used when depsolving. */
  module_platform_id: string;
  /** EFI vendor directory name substituted into platforms' uefi_vendor; "" when unset (Fedora). */
  vendor: string;
  /** Release code name; "" when unset. */
  codename: string;
  /** Whether installer ISOs are marked as a preview by default. */
  preview: boolean;
  /** File system given to partition-table filesystems that name none. */
  default_fs_type: string;
  /** Template of ISO volume labels (Go template over .Distro, .Product, .Arch, .ISOLabel). */
  iso_label_tmpl: string;
  /** osbuild runner of the build pipeline and the packages it needs in the build root. */
  runner: { name: string; build_packages: string[] };
  /** Bootstrap container per arch (used only when a build asks for one). */
  bootstrap_containers: Record<string, string>;
  /** OpenSCAP profiles a blueprint may name. */
  oscap_profiles_allowlist: string[];
  /** Distro-wide image config: `default` with the matching distro conditions applied (evaluated without an arch). */
  image_config: Record<string, unknown>;
  /** Build workarounds after the distro conditions (rpmkeys binary, ignored key-import failures); null when none. */
  tweaks: { rpmkeys: { binary_path: string; ignore_build_import_failures: boolean } | null } | null;
  /** Ambiguities met while resolving (two matching conditions setting one key). */
  warnings: string[];
}

/** The platform of one arch of an image type (after platforms_override). */
export interface ComparablePlatform {
  arch: string;
  /** Disk format for disk image kinds: raw, qcow2, vhd, vmdk, gce, ova, vagrant_libvirt, vagrant_virtualbox, iso; "" when unset. */
  image_format: string;
  /** qcow2 compat level ("1.1"); "" = qemu-img's default. */
  qcow2_compat: string;
  /** grub2 BIOS target (i386-pc, powerpc-ieee1275); "" when none. */
  bios_platform: string;
  /** EFI vendor directory after templating with the distro vendor; "" when no UEFI. */
  uefi_vendor: string;
  /** Whether s390x zipl is used. */
  zipl_support: boolean;
  /** grub2, zipl, uki, systemd, or none. */
  bootloader: string;
  /** Extra EFI architectures on installer media (ia32). */
  extra_uefi_architectures: string[];
  /** Whether installer media get a FIPS boot menu entry. */
  fips_menu: boolean;
  /** Packages the platform adds to the OS package set (all groups, sorted, deduplicated). */
  packages: string[];
  /** Packages the platform adds to the build root (all groups, sorted, deduplicated). */
  build_packages: string[];
  /** Files copied into the image (e.g. Raspberry Pi firmware into /boot/efi), in order; from_build takes them from the build root. */
  boot_files: { src: string; dst: string; from_build: boolean }[];
}

/** One package set after conditions. */
export interface ComparablePackageSet {
  /** Sorted, deduplicated. */
  include: string[];
  /** Sorted, deduplicated. */
  exclude: string[];
  /** Names upstream lists more than once (it concatenates and never deduplicates); informational, not a difference. */
  duplicated: { include: string[]; exclude: string[] };
}

/** Payload of a partition, LV or LUKS container; sizes in bytes. */
export type ComparablePayload =
  | {
      kind: 'filesystem';
      /** ext4, xfs, vfat, btrfs (the distro default already applied to untyped ones). */
      type: string;
      uuid: string;
      label: string;
      mountpoint: string;
      fstab_options: string;
      fstab_freq: number;
      fstab_passno: number;
      mkfs_options: { verity: boolean; geometry: { heads: number; sectors_per_track: number } | null };
    }
  | { kind: 'lvm'; name: string; description: string; logical_volumes: { name: string; size: number; payload: ComparablePayload }[] }
  | {
      kind: 'btrfs';
      uuid: string;
      label: string;
      mountpoint: string;
      subvolumes: { name: string; size: number; mountpoint: string; group_id: number; compress: string; read_only: boolean; uuid: string }[];
    }
  | {
      kind: 'luks';
      passphrase: string;
      uuid: string;
      cipher: string;
      label: string;
      subsystem: string;
      sector_size: number;
      pbkdf: { iterations: number; memory: number; parallelism: number };
      clevis: { pin: string; policy: string; remove_passphrase: boolean } | null;
      payload: ComparablePayload;
    }
  | { kind: 'swap'; uuid: string; label: string; fstab_options: string }
  | { kind: 'raw'; source_path: string }
  | { kind: 'none' };

export interface ComparablePartition {
  /** Minimum size in bytes as written (the layout grows it). */
  size: number;
  /** GPT type GUID in upper case, or the DOS id as written ("83", "ef", "06", "41"); "" when unset. */
  type: string;
  /** GPT legacy-BIOS-bootable attribute / DOS active flag. */
  bootable: boolean;
  /** Fixed partition UUID; "" = random at build time. */
  uuid: string;
  /** GPT partition name; "". */
  label: string;
  /** GPT attribute bits. */
  attrs: number[];
  payload: ComparablePayload;
}

/** The base partition table of the type on this arch (after partition_tables_override). */
export interface ComparablePartitionTable {
  /** gpt or dos ("" when the YAML names none). */
  type: string;
  /** Fixed table id (GUID for gpt, "0x…" for dos); "" = random at build time. */
  uuid: string;
  /** Minimum disk size in bytes (0 = none). */
  size: number;
  /** Offset added before the first partition, in bytes. */
  start_offset: number;
  /** Sector size in bytes (512 when the YAML names none). */
  sector_size: number;
  /** Bytes added after the last partition. */
  extra_padding: number;
  /** Whether a /boot (XBOOTLDR) is created when root moves onto LVM/btrfs (true when the YAML has no policy). */
  ensure_xbootldr: boolean;
  partitions: ComparablePartition[];
}

/** Where the partitions end up for a build without customizations and without a requested size. */
export interface ComparableLayout {
  /** Disk image size in bytes. */
  size: number;
  /** Partitions in disk order. */
  partitions: {
    /** Position of this partition in `partition_table.partitions`. */
    index: number;
    /** Start in bytes. */
    start: number;
    /** Size in bytes. */
    size: number;
    /** Mountpoints inside the partition (through LUKS, LVM, btrfs). */
    mountpoints: string[];
    /** Logical volumes or btrfs subvolumes inside, with their sizes after the required directory sizes. */
    volumes: { name: string; mountpoint: string; size: number }[];
  }[];
}

/** Everything that defines one image type of one distro on one arch, resolved. */
export interface ComparableDefinition {
  /** Canonical distro name ("rhel-9.6", "centos-9", "fedora-43"). */
  distro: string;
  /** Architecture (x86_64, aarch64, ppc64le, s390x, riscv64). */
  arch: string;
  /** Canonical image type name (a lookup by alias answers this name). */
  name: string;
  /** Other names that find this type on this arch, sorted. */
  aliases: string[];
  /** What the type builds (upstream image_func): disk, container, tar, pxe_tar, image_installer, live_installer, network-installer, ostree_commit, ostree_container, ostree_installer, ostree_disk, ostree_simplified_installer, bootable_container. */
  kind: string;
  /** File name of the artifact. */
  filename: string;
  /** MIME type of the artifact. */
  mime_type: string;
  /** osbuild pipelines exported, in order (upstream's fallback ["assembler"] when the YAML list is empty). */
  exports: string[];
  /** Compression applied after the image pipeline: "", "xz", "zstd", "gzip". */
  compression: string;
  /** Kernel and boot loader are configured. */
  bootable: boolean;
  /** The artifact is an ISO (installer_config and iso_config apply). */
  boot_iso: boolean;
  /** The type's own part of the ISO label (the template's .ISOLabel); "" when none. */
  iso_label: string;
  /** The ISO volume label the distro's iso_label_tmpl makes for this type and arch; null unless boot_iso. */
  iso_volume_label: string | null;
  /** Installer variant (.buildstamp, .discinfo); "" when none. */
  variant: string;
  /** Size in bytes used when a build requests none; 0 when the type has none. */
  default_size: number;
  /** Minimum size in bytes per directory; upstream's default {"/": 1 GiB, "/usr": 2 GiB} made explicit when the type names none; {} = no minimum. */
  required_partition_sizes: Record<string, number>;
  /** Partitioning modes a build may request ("" = default, auto-lvm, lvm, raw, btrfs); [] = any. */
  supported_partitioning_modes: string[];
  /** Blueprint option paths the type accepts / requires (sorted). */
  blueprint: { supported_options: string[]; required_options: string[] };
  /** Packages added to the OS package set (sorted) and services enabled after the image config's (in order). */
  environment: { packages: string[]; services: string[] };
  /** ostree settings, `ref` after templating; null when the type is not ostree-based. */
  ostree: { name: string; remote_name: string; ref: string; url: string } | null;
  /** ostree disk / simplified installer take the remote URL from the build request. */
  use_ostree_remotes: boolean;
  /** The installer uses the legacy anaconda configuration. */
  use_legacy_anaconda_config: boolean;
  /** qemu-img force_size for the vhd pipeline; null when unset. */
  disk_image_vpc_force_size: boolean | null;
  /** hybrid (BIOS and UEFI), uefi, legacy (BIOS or zipl) or none, from the platform. */
  boot_mode: 'hybrid' | 'uefi' | 'legacy' | 'none';
  platform: ComparablePlatform;
  /** Package sets by name (os, installer, …) after conditions. */
  package_sets: Record<string, ComparablePackageSet>;
  /** Base partition table; null when the type has none for this arch. */
  partition_table: ComparablePartitionTable | null;
  /** Final layout for a build without customizations and without a requested size; null for kinds without a disk. */
  layout: ComparableLayout | null;
  /** Image config after layering (type conditions > type > distro conditions > distro default, per top-level key), upstream's YAML key names and values. */
  image_config: Record<string, unknown>;
  /** Installer config after its conditions; null unless boot_iso. Flatpak references are templated. */
  installer_config: Record<string, unknown> | null;
  /** ISO config after its conditions; null unless boot_iso. */
  iso_config: Record<string, unknown> | null;
  /** Disk config after its conditions ({} when none). */
  disk_config: Record<string, unknown>;
  /** image_config.kernel_options, or []. */
  kernel_options: string[];
  /** image_config.enabled_services, or [] (environment.services are separate). */
  enabled_services: string[];
  /** image_config.disabled_services, or []. */
  disabled_services: string[];
  /** image_config.maskedservices, or []. */
  masked_services: string[];
  /** Ambiguities met while resolving: upstream's result depends on Go map order (two matching conditions setting one key, two partition-table overrides matching). */
  warnings: string[];
  /** Upstream data that has no effect (a variant on a type that is not an ISO, …): not differences, but Kiln need not carry them. */
  notes: string[];
}

/** One (distro, image type, arch) upstream defines. */
export interface MatrixEntry {
  distro: string;
  /** Definition family the distro reads (fedora, rhel-9, rhel-10). */
  family: string;
  /** Canonical image type name. */
  name: string;
  arch: string;
  /** Aliases on this arch, sorted. */
  aliases: string[];
  kind: string;
}

export interface UpstreamDefs {
  /** The directory read. */
  readonly dir: string;
  /** The distros Kiln builds (KILN_DISTROS), resolved. */
  upstreamDistros(): ComparableDistro[];
  /** Resolves a distro name as upstream does (first entry whose name or match fits). */
  resolveDistro(name: string): ComparableDistro;
  /** Resolves an image type (canonical name or alias on that arch). Throws when upstream has no such type there. */
  resolveUpstream(distro: string, imageType: string, arch: string): ComparableDefinition;
  /** Every (distro, canonical type, arch) upstream defines for `distros`, sorted by distro order, name, arch. */
  upstreamMatrix(distros?: readonly string[]): MatrixEntry[];
}

/** shared/reference/upstream/images-distrodefs beside the checkout (test/helpers/reference.ts), or $KILN_UPSTREAM_DEFS. */
export function upstreamDefsDir(repoRoot: string): string {
  return process.env[UPSTREAM_DEFS_ENV] || findReference('upstream/images-distrodefs') || path.resolve(repoRoot, '../shared/reference/upstream/images-distrodefs');
}

// ---------------------------------------------------------------------------------------------
// YAML as images reads it (go.yaml.in/yaml/v3)

/**
 * YAML 1.1 with merge keys, octal `0755` and `8_388_608`, as yaml.v3 decodes into the Go types;
 * but only true/false are booleans (yaml.v3 reads yes/no/on/off/y/n as strings unless the target
 * is a bool) and there are no sexagesimal numbers or timestamps.
 */
function parseYaml(text: string, file: string): unknown {
  const customTags = (tags: YAML.Tags): YAML.Tags =>
    tags
      .filter((t) => typeof t === 'object' && !/timestamp|:TIME$/.test(`${t.tag}${'format' in t && t.format ? `:${t.format}` : ''}`))
      .map((t) => {
        if (typeof t !== 'object' || t.tag !== 'tag:yaml.org,2002:bool' || !('test' in t) || !t.test) return t;
        const isTrue = t.test.test('true');
        return { ...t, test: isTrue ? /^(?:true|True|TRUE)$/ : /^(?:false|False|FALSE)$/ } as typeof t;
      });
  const doc = YAML.parseDocument(text, { version: '1.1', merge: true, customTags, uniqueKeys: true });
  if (doc.errors.length) throw new UpstreamDefsError(`${file}: ${doc.errors[0].message}`);
  return doc.toJS({ maxAliasCount: -1 });
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Where an error happened, for messages: "rhel-9/imagetypes.yaml: image type qcow2: platforms[0]". */
class At {
  constructor(readonly where: string) {}
  at(sub: string | number): At {
    return new At(typeof sub === 'number' ? `${this.where}[${sub}]` : `${this.where}.${sub}`);
  }
  fail(msg: string): never {
    throw new UpstreamDefsError(`${this.where}: ${msg}`);
  }
}

/** A mapping decoded natively by yaml.v3 with KnownFields: exact keys, unknown keys are errors. */
function strictObj(v: unknown, allowed: readonly string[], at: At): Obj {
  if (v === null || v === undefined) return {};
  if (!isObj(v)) at.fail(`expected a mapping, got ${JSON.stringify(v)}`);
  for (const k of Object.keys(v)) if (!allowed.includes(k)) at.fail(`unknown key ${JSON.stringify(k)}`);
  return v;
}

/** A mapping with free keys (a Go map): absent/null → {}. */
function mapping(v: unknown, at: At): Obj {
  if (v === undefined || v === null) return {};
  if (!isObj(v)) return at.fail(`expected a mapping, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * A mapping decoded through JSON (partition tables): Go's encoding/json matches keys case-
 * insensitively; `strict` = DisallowUnknownFields. Returns the object with keys as in `allowed`.
 */
function jsonObj(v: unknown, allowed: readonly string[], at: At, strict = true): Obj {
  if (!isObj(v)) at.fail(`expected a mapping, got ${JSON.stringify(v)}`);
  const out: Obj = {};
  for (const [k, val] of Object.entries(v)) {
    const name = allowed.find((a) => a === k) ?? allowed.find((a) => a.toLowerCase() === k.toLowerCase());
    if (name === undefined) {
      if (strict) at.fail(`unknown key ${JSON.stringify(k)}`);
      continue;
    }
    out[name] = val;
  }
  return out;
}

/** A Go string field: absent/null → "", numbers keep their text (yaml.v3 accepts `release_version: 10`). */
function str(o: Obj, key: string, at: At): string {
  const v = o[key];
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isInteger(v)) return String(v);
  return at.at(key).fail(`expected a string, got ${JSON.stringify(v)}`);
}

function bool(o: Obj, key: string, at: At): boolean {
  const v = o[key];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') return at.at(key).fail(`expected true or false, got ${JSON.stringify(v)}`);
  return v;
}

function optBool(o: Obj, key: string, at: At): boolean | null {
  return o[key] === undefined || o[key] === null ? null : bool(o, key, at);
}

function uint(o: Obj, key: string, at: At): number {
  const v = o[key];
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) return at.at(key).fail(`expected a non-negative integer, got ${JSON.stringify(v)}`);
  return v;
}

function strList(o: Obj, key: string, at: At): string[] {
  const v = o[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) return at.at(key).fail(`expected a list, got ${JSON.stringify(v)}`);
  return v.map((x, i) => {
    if (typeof x === 'string') return x;
    if (typeof x === 'number' && Number.isInteger(x)) return String(x);
    return at.at(key).at(i).fail(`expected a string, got ${JSON.stringify(x)}`);
  });
}

function list(o: Obj, key: string, at: At): unknown[] {
  const v = o[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) return at.at(key).fail(`expected a list, got ${JSON.stringify(v)}`);
  return v;
}

function sortedUnique(xs: Iterable<string>): string[] {
  return [...new Set(xs)].sort();
}

function duplicatesOf(xs: string[]): string[] {
  const seen = new Set<string>();
  const dup = new Set<string>();
  for (const x of xs) (seen.has(x) ? dup : seen).add(x);
  return [...dup].sort();
}

const SIZE_UNITS: [RegExp, number][] = [
  [/^\d+(\.\d+)?\s*kB$/, 1000],
  [/^\d+(\.\d+)?\s*KiB$/, 1024],
  [/^\d+(\.\d+)?\s*MB$/, 1000 ** 2],
  [/^\d+(\.\d+)?\s*MiB$/, 1024 ** 2],
  [/^\d+(\.\d+)?\s*GB$/, 1000 ** 3],
  [/^\d+(\.\d+)?\s*GiB$/, 1024 ** 3],
  [/^\d+(\.\d+)?\s*TB$/, 1000 ** 4],
  [/^\d+(\.\d+)?\s*TiB$/, 1024 ** 4],
  [/^\d+(\.\d+)?$/, 1],
];

/** datasizes.Size: an integer of bytes or "<number>[ ]<unit>" (pkg/datasizes/parse.go). */
function size(v: unknown, at: At): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) at.fail(`size cannot be a float: ${v}`);
    if (v < 0) at.fail(`size cannot be negative: ${v}`);
    return v;
  }
  if (typeof v !== 'string') return at.fail(`expected a size, got ${JSON.stringify(v)}`);
  const s = v.trim();
  const num = /^(\d+(\.\d+)?)/.exec(s);
  if (!num) return at.fail(`the size string is not a valid positive float number: ${s}`);
  for (const [re, mult] of SIZE_UNITS) if (re.test(s)) return Math.round(Number(num[1]) * mult);
  return at.fail(`unknown data size units in string: ${s}`);
}

// ---------------------------------------------------------------------------------------------
// Go text/template, only as the definitions use it: plain field references {{.A.B}}

function goTemplate(tmpl: string, data: unknown, at: At): string {
  return tmpl.replace(/\{\{(.*?)\}\}/g, (_all, expr: string) => {
    const m = /^\s*\.([A-Za-z]\w*(?:\.[A-Za-z]\w*)*)\s*$/.exec(expr);
    if (!m) return at.fail(`template action {{${expr}}} is not a plain field reference (not supported here)`);
    let v: unknown = data;
    for (const part of m[1].split('.')) {
      if (!isObj(v) || !(part in v)) return at.fail(`template ${JSON.stringify(tmpl)}: no value for .${m[1]}`);
      v = v[part];
    }
    return String(v);
  });
}

// ---------------------------------------------------------------------------------------------
// Distro ids, versions, conditions

interface DistroID {
  Name: string;
  MajorVersion: number;
  /** -1 when the name has no minor (upstream's convention, visible in templates). */
  MinorVersion: number;
}

/** distro.ParseID: split at the last "-", at most one dot, integers. */
function parseID(s: string, at: At): DistroID {
  const dash = s.lastIndexOf('-');
  if (dash < 0) return at.fail(`distro name ${JSON.stringify(s)}: a dash is expected to separate distro name and version`);
  const parts = s.slice(dash + 1).split('.');
  if (parts.length > 2) at.fail(`distro name ${JSON.stringify(s)}: too many dots in the version`);
  const int = (x: string): number => {
    if (!/^[+-]?\d+$/.test(x)) at.fail(`distro name ${JSON.stringify(s)}: version part ${JSON.stringify(x)} is not an integer`);
    return Number(x);
  };
  return { Name: s.slice(0, dash), MajorVersion: int(parts[0]), MinorVersion: parts.length > 1 ? int(parts[1]) : -1 };
}

function versionString(id: DistroID): string {
  return id.MinorVersion === -1 ? `${id.MajorVersion}` : `${id.MajorVersion}.${id.MinorVersion}`;
}

/** versionStringForVerCmp: a missing minor compares as 999. */
function compareVersion(id: DistroID): string {
  return versionString({ ...id, MinorVersion: id.MinorVersion === -1 ? 999 : id.MinorVersion });
}

/** hashicorp/go-version for plain dotted versions (missing segments are 0); anything else panics upstream. */
function versionLess(a: string, b: string, at: At): boolean {
  const parse = (v: string): number[] => {
    if (!/^v?\d+(\.\d+)*$/.test(v)) return at.fail(`malformed version ${JSON.stringify(v)} (upstream panics)`);
    return v.replace(/^v/, '').split('.').map(Number);
  };
  const x = parse(a);
  const y = parse(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d < 0;
  }
  return false;
}

const WHEN_KEYS = ['distro_name', 'not_distro_name', 'arch', 'version_less_than', 'version_greater_or_equal', 'version_equal'] as const;

/** whenCondition.Eval: all given keys ANDed; an empty `when` always matches. */
function evalWhen(when: unknown, id: DistroID, arch: string, at: At): boolean {
  const w = strictObj(when, WHEN_KEYS, at);
  const s = (k: string): string => str(w, k, at);
  if (s('distro_name') && s('distro_name') !== id.Name) return false;
  if (s('not_distro_name') && s('not_distro_name') === id.Name) return false;
  if (s('arch') && s('arch') !== arch) return false;
  if (s('version_less_than') && !versionLess(compareVersion(id), s('version_less_than'), at)) return false;
  if (s('version_greater_or_equal') && versionLess(compareVersion(id), s('version_greater_or_equal'), at)) return false;
  if (s('version_equal') && versionString(id) !== s('version_equal')) return false;
  return true;
}

interface Cond {
  desc: string;
  body: Obj;
  at: At;
}

/** A `conditions:` map, in sorted description order (upstream iterates a Go map: random order). */
function conditionsOf(v: unknown, actionKeys: readonly string[], at: At): Cond[] {
  if (v === undefined || v === null) return [];
  if (!isObj(v)) return at.fail('conditions must be a mapping');
  return Object.keys(v)
    .sort()
    .map((desc) => {
      const cat = at.at(`conditions[${JSON.stringify(desc)}]`);
      return { desc, body: strictObj(v[desc], ['when', ...actionKeys], cat), at: cat };
    });
}

function matching(conds: Cond[], id: DistroID, arch: string): Cond[] {
  return conds.filter((c) => evalWhen(c.body.when, id, arch, c.at.at('when')));
}

/** Top-level keys that are set (Go: non-nil pointer/slice/map; YAML null = unset). */
function setKeys(o: Obj): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries(o)) if (v !== null && v !== undefined) out[k] = structuredClone(v);
  return out;
}

/**
 * shallowMerge in sequence: each matching condition's set keys replace the current value
 * wholesale (`winner: 'condition'`, image/installer/iso/disk configs) or only fill unset keys
 * (`winner: 'base'`, distro tweaks: `tweaks.InheritFrom(cond.Tweaks)`). Two matching conditions
 * setting the same key are a warning: upstream's result depends on Go's map order.
 */
function mergeConditions(base: Obj, conds: Cond[], action: string, winner: 'condition' | 'base', block: string, warnings: string[], validate: (o: Obj, at: At) => void): Obj {
  const out = { ...base };
  const setBy = new Map<string, { desc: string; value: unknown }>();
  for (const c of conds) {
    const raw = c.body[action];
    if (raw === null || raw === undefined) continue;
    if (!isObj(raw)) return c.at.at(action).fail('expected a mapping');
    validate(raw, c.at.at(action));
    for (const [k, v] of Object.entries(setKeys(raw))) {
      const prev = setBy.get(k);
      if (prev) {
        const same = JSON.stringify(prev.value) === JSON.stringify(v);
        warnings.push(`${block}: conditions ${JSON.stringify(prev.desc)} and ${JSON.stringify(c.desc)} both match and set ${JSON.stringify(k)}${same ? ' (same value)' : '; upstream picks one at random, applied here in sorted order'}`);
      }
      setBy.set(k, { desc: c.desc, value: v });
      if (winner === 'condition' || out[k] === undefined) out[k] = v;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Image config, installer/iso/disk config keys (pkg/distro/*_config.go yaml names)

const IMAGE_CONFIG_KEYS = [
  'hostname', 'timezone', 'time_synchronization', 'locale', 'keyboard', 'enabled_services', 'disabled_services',
  'maskedservices', 'default_target', 'sysconfig', 'default_kernel', 'update_default_kernel', 'kernel_options',
  'default_kernel_name', 'gpgkey_files', 'no_selinux', 'selinux_force_relabel', 'exclude_docs', 'shell_init',
  'rhsm_config', 'systemd_logind', 'cloud_init', 'modprobe', 'dracut_conf', 'systemd_dropin', 'systemd_unit',
  'authselect', 'selinux_config', 'tuned', 'tmpfilesd', 'pam_limits_conf', 'sysctld', 'dnf_config', 'sshd_config',
  'authconfig', 'pwquality', 'waagent_config', 'grub2_config', 'dnf_automatic_config', 'yum_config', 'yum_repos',
  'firewall', 'udev_rules', 'gcp_guest_agent_config', 'network_manager', 'presets', 'wsl', 'oci', 'ostree_server',
  'users', 'files', 'directories', 'kernel_options_bootloader', 'default_oscap_datastream', 'no_bls',
  'ostree_conf_sysroot_readonly', 'lock_root_user', 'ignition_platform', 'install_weak_deps', 'install_langs',
  'machine_id_uninitialized', 'permissive_rhc', 'versionlock_packages', 'bootupd_gen_metadata',
] as const;

const INSTALLER_CONFIG_KEYS = [
  'enabled_anaconda_modules', 'additional_dracut_modules', 'additional_drivers', 'kickstart_unattended_extra_kernel_opts',
  'default_menu', 'install_weak_deps', 'lorax_templates', 'lorax_template_package', 'lorax_logos_package',
  'lorax_release_package', 'iso_files', 'payload', 'flatpaks',
] as const;

const ISO_CONFIG_KEYS = ['boot_type', 'rootfs_type', 'erofs_options', 'label', 'preparer', 'publisher', 'application', 'exclude_paths'] as const;

const DISK_CONFIG_KEYS = ['mount_configuration', 'partitioning_tool'] as const;

function keysValidator(keys: readonly string[]): (o: Obj, at: At) => void {
  return (o, at) => void strictObj(o, keys, at);
}

/** A config block with inline keys plus `conditions: {desc: {when, shallow_merge}}`. */
function configBlock(v: unknown, keys: readonly string[], id: DistroID, arch: string, block: string, at: At, warnings: string[]): Obj | null {
  if (v === undefined || v === null) return null;
  const o = strictObj(v, [...keys, 'conditions'], at);
  const { conditions, ...base } = o;
  const conds = matching(conditionsOf(conditions, ['shallow_merge'], at), id, arch);
  for (const c of conds) {
    if (block !== 'image_config' && (c.body.shallow_merge === null || c.body.shallow_merge === undefined)) {
      c.at.fail(`condition without shallow_merge (upstream's ${block} InheritFrom panics on it)`);
    }
  }
  return mergeConditions(setKeys(base), conds, 'shallow_merge', 'condition', block, warnings, keysValidator(keys));
}

// ---------------------------------------------------------------------------------------------
// Partition tables (decoded YAML → JSON → Go: JSON tags, case-insensitive keys)

const GUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

function payloadOf(o: Obj, at: At, defaultFs: string): ComparablePayload {
  const kind = str(o, 'payload_type', at);
  if (!kind) {
    if (o.payload !== undefined && o.payload !== null) at.fail('payload without payload_type');
    return { kind: 'none' };
  }
  const pat = at.at('payload');
  switch (kind) {
    case 'filesystem': {
      const p = jsonObj(o.payload, ['type', 'uuid', 'label', 'mountpoint', 'fstab_options', 'fstab_freq', 'fstab_passno', 'mkfs_options'], pat);
      const mkfs = p.mkfs_options === undefined || p.mkfs_options === null ? {} : jsonObj(p.mkfs_options, ['verity', 'geometry'], pat.at('mkfs_options'));
      const geometry = mkfs.geometry === undefined || mkfs.geometry === null ? null : jsonObj(mkfs.geometry, ['heads', 'sectors_per_track'], pat.at('mkfs_options.geometry'));
      const mountpoint = str(p, 'mountpoint', pat);
      let type = str(p, 'type', pat);
      if (!type) {
        // setupDefaultFS: untyped filesystems get the distro default, but /boot never btrfs
        if (!defaultFs) pat.fail(`filesystem ${JSON.stringify(mountpoint)} has no type and the distro has no default_fs_type`);
        type = mountpoint === '/boot' && defaultFs === 'btrfs' ? 'ext4' : defaultFs;
      }
      return {
        kind: 'filesystem',
        type,
        uuid: str(p, 'uuid', pat),
        label: str(p, 'label', pat),
        mountpoint,
        fstab_options: str(p, 'fstab_options', pat),
        fstab_freq: uint(p, 'fstab_freq', pat),
        fstab_passno: uint(p, 'fstab_passno', pat),
        mkfs_options: {
          verity: bool(mkfs, 'verity', pat),
          geometry: geometry && { heads: uint(geometry, 'heads', pat), sectors_per_track: uint(geometry, 'sectors_per_track', pat) },
        },
      };
    }
    case 'lvm': {
      // LVMVolumeGroup.UnmarshalJSON uses plain json.Unmarshal: unknown keys (rhel-9's stray `type: lvm`) are ignored
      const p = jsonObj(o.payload, ['name', 'description', 'logical_volumes'], pat, false);
      return {
        kind: 'lvm',
        name: str(p, 'name', pat),
        description: str(p, 'description', pat),
        logical_volumes: list(p, 'logical_volumes', pat).map((lv, i) => {
          const lat = pat.at('logical_volumes').at(i);
          const l = jsonObj(lv, ['name', 'size', 'payload_type', 'payload'], lat);
          return { name: str(l, 'name', lat), size: size(l.size, lat.at('size')), payload: payloadOf(l, lat, defaultFs) };
        }),
      };
    }
    case 'btrfs': {
      const p = jsonObj(o.payload, ['uuid', 'label', 'mountpoint', 'subvolumes'], pat);
      return {
        kind: 'btrfs',
        uuid: str(p, 'uuid', pat),
        label: str(p, 'label', pat),
        mountpoint: str(p, 'mountpoint', pat),
        subvolumes: list(p, 'subvolumes', pat).map((sv, i) => {
          const sat = pat.at('subvolumes').at(i);
          const s = jsonObj(sv, ['name', 'size', 'mountpoint', 'group_id', 'compress', 'read_only', 'uuid'], sat);
          return {
            name: str(s, 'name', sat),
            size: size(s.size, sat.at('size')),
            mountpoint: str(s, 'mountpoint', sat),
            group_id: uint(s, 'group_id', sat),
            compress: str(s, 'compress', sat),
            read_only: bool(s, 'read_only', sat),
            uuid: str(s, 'uuid', sat),
          };
        }),
      };
    }
    case 'luks': {
      const p = jsonObj(o.payload, ['passphrase', 'uuid', 'cipher', 'label', 'subsystem', 'sector_size', 'pbkdf', 'clevis', 'payload_type', 'payload'], pat);
      const pbkdf = p.pbkdf === undefined || p.pbkdf === null ? {} : jsonObj(p.pbkdf, ['iterations', 'memory', 'parallelism'], pat.at('pbkdf'));
      const clevis = p.clevis === undefined || p.clevis === null ? null : jsonObj(p.clevis, ['pin', 'policy', 'remove_passphrase'], pat.at('clevis'));
      return {
        kind: 'luks',
        passphrase: str(p, 'passphrase', pat),
        uuid: str(p, 'uuid', pat),
        cipher: str(p, 'cipher', pat),
        label: str(p, 'label', pat),
        subsystem: str(p, 'subsystem', pat),
        sector_size: uint(p, 'sector_size', pat),
        pbkdf: { iterations: uint(pbkdf, 'iterations', pat), memory: uint(pbkdf, 'memory', pat), parallelism: uint(pbkdf, 'parallelism', pat) },
        clevis: clevis && { pin: str(clevis, 'pin', pat), policy: str(clevis, 'policy', pat), remove_passphrase: bool(clevis, 'remove_passphrase', pat) },
        payload: payloadOf(p, pat, defaultFs),
      };
    }
    case 'swap': {
      // no JSON tags on disk.Swap: the keys are the Go field names, matched case-insensitively
      const p = jsonObj(o.payload, ['UUID', 'Label', 'FSTabOptions'], pat);
      return { kind: 'swap', uuid: str(p, 'UUID', pat), label: str(p, 'Label', pat), fstab_options: str(p, 'FSTabOptions', pat) };
    }
    case 'raw': {
      const p = jsonObj(o.payload, ['source_path'], pat);
      return { kind: 'raw', source_path: str(p, 'source_path', pat) };
    }
    default:
      return at.fail(`unknown payload type ${JSON.stringify(kind)}`);
  }
}

function partitionTableOf(v: unknown, at: At, defaultFs: string): ComparablePartitionTable {
  const o = jsonObj(v, ['size', 'uuid', 'type', 'partitions', 'sector_size', 'extra_padding', 'start_offset', 'policy'], at);
  const type = str(o, 'type', at);
  if (!['', 'gpt', 'dos'].includes(type)) at.at('type').fail(`unknown partition table type ${JSON.stringify(type)}`);
  const policy = o.policy === undefined || o.policy === null ? null : jsonObj(o.policy, ['ensure_xbootldr'], at.at('policy'));
  return {
    type,
    uuid: str(o, 'uuid', at),
    size: size(o.size, at.at('size')),
    start_offset: size(o.start_offset, at.at('start_offset')),
    sector_size: uint(o, 'sector_size', at) || 512,
    extra_padding: uint(o, 'extra_padding', at),
    ensure_xbootldr: policy ? bool(policy, 'ensure_xbootldr', at) : true,
    partitions: list(o, 'partitions', at).map((p, i) => {
      const pat = at.at('partitions').at(i);
      const q = jsonObj(p, ['start', 'size', 'type', 'bootable', 'uuid', 'label', 'payload_type', 'payload', 'attrs'], pat);
      const ptype = str(q, 'type', pat);
      return {
        size: size(q.size, pat.at('size')),
        type: GUID_RE.test(ptype) ? ptype.toUpperCase() : ptype,
        bootable: bool(q, 'bootable', pat),
        uuid: str(q, 'uuid', pat),
        label: str(q, 'label', pat),
        attrs: list(q, 'attrs', pat).map((a, j) => uint({ a }, 'a', pat.at('attrs').at(j))),
        payload: payloadOf(q, pat, defaultFs),
      };
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// Platforms

const ARCHES = ['x86_64', 'aarch64', 'ppc64le', 's390x', 'riscv64'];
const IMAGE_FORMATS = ['unset', 'raw', 'iso', 'qcow2', 'vmdk', 'vhd', 'gce', 'ova', 'vagrant_libvirt', 'vagrant_virtualbox'];
const BOOTLOADERS = ['grub2', 'zipl', 'uki', 'systemd', 'none', ''];
const PLATFORM_KEYS = ['arch', 'image_format', 'qcow2_compat', 'bios_platform', 'uefi_vendor', 'extra_uefi_architectures', 'zipl_support', 'packages', 'build_packages', 'boot_files', 'bootloader', 'fips_menu'];

function packageGroups(v: unknown, at: At): string[] {
  const o = mapping(v, at);
  return Object.keys(o).flatMap((k) => strList(o, k, at));
}

function platformOf(v: unknown, vendor: string, at: At): ComparablePlatform {
  const o = strictObj(v, PLATFORM_KEYS, at);
  const arch = str(o, 'arch', at);
  if (!ARCHES.includes(arch)) at.at('arch').fail(`unknown arch ${JSON.stringify(arch)}`);
  const format = str(o, 'image_format', at);
  if (format && !IMAGE_FORMATS.includes(format)) at.at('image_format').fail(`unknown image format ${JSON.stringify(format)} (upstream panics)`);
  const bootloader = str(o, 'bootloader', at).toLowerCase();
  if (!BOOTLOADERS.includes(bootloader)) at.at('bootloader').fail(`unsupported bootloader ${JSON.stringify(bootloader)}`);
  // runTemplates: {{.DistroVendor}}, an error when the distro has no vendor and the template uses it
  const uefi = goTemplate(str(o, 'uefi_vendor', at), vendor ? { DistroVendor: vendor } : undefined, at.at('uefi_vendor'));
  return {
    arch,
    image_format: format === 'unset' ? '' : format,
    qcow2_compat: str(o, 'qcow2_compat', at),
    bios_platform: str(o, 'bios_platform', at),
    uefi_vendor: uefi,
    zipl_support: bool(o, 'zipl_support', at),
    bootloader: bootloader || 'none',
    extra_uefi_architectures: strList(o, 'extra_uefi_architectures', at),
    fips_menu: bool(o, 'fips_menu', at),
    packages: sortedUnique(packageGroups(o.packages, at.at('packages'))),
    build_packages: sortedUnique(packageGroups(o.build_packages, at.at('build_packages'))),
    boot_files: list(o, 'boot_files', at).map((b, i) => {
      const bat = at.at('boot_files').at(i);
      const f = strictObj(b, ['src', 'dst', 'from_build'], bat);
      return { src: str(f, 'src', bat), dst: str(f, 'dst', bat), from_build: bool(f, 'from_build', bat) };
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// Loading

const DISTRO_KEYS = [
  'match', 'name', 'codename', 'vendor', 'preview', 'os_version', 'release_version', 'module_platform_id', 'product',
  'runner', 'iso_label_tmpl', 'default_fs_type', 'defs_path', 'bootstrap_containers', 'oscap_profiles_allowlist',
  'image_config', 'conditions', 'distro_like', 'tweaks',
];

const IMAGE_TYPE_KEYS = [
  'package_sets', 'partition_table', 'partition_tables_override', 'image_config', 'installer_config', 'iso_config',
  'disk_config', 'filename', 'mime_type', 'compression', 'environment', 'bootable', 'boot_iso',
  'use_legacy_anaconda_config', 'iso_label', 'variant', 'ostree', 'use_ostree_remotes', 'default_size', 'image_func',
  'exports', 'required_partition_sizes', 'platforms', 'platforms_override', 'name_aliases', 'install_weak_deps',
  'disk_image_vpc_force_size', 'supported_partitioning_modes', 'blueprint',
];

const IMAGE_FUNCS = [
  'disk', 'container', 'image_installer', 'live_installer', 'bootable_container', 'ostree_disk', 'ostree_commit',
  'ostree_container', 'ostree_installer', 'ostree_simplified_installer', 'tar', 'network-installer', 'pxe_tar',
];

/** Image funcs that build a partition table (getPartitionTable). */
const DISK_FUNCS = new Set(['disk', 'ostree_disk', 'ostree_simplified_installer']);

interface RawDistro {
  entry: Obj;
  at: At;
}

interface ResolvedDistro {
  comparable: ComparableDistro;
  id: DistroID;
  raw: Obj;
  at: At;
  family: string;
}

interface ArchIndex {
  /** canonical name → raw image type (after the distro's ignore list) */
  types: Map<string, { raw: Obj; at: At; platform: ComparablePlatform }>;
  aliases: Map<string, string>;
}

/** Reads the root *.yaml distro files and, on first use, each family's image types. */
export function loadUpstreamDefs(dir: string): UpstreamDefs {
  if (!existsSync(dir)) throw new UpstreamDefsError(`${dir}: no such directory`);
  const distros: RawDistro[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort()) {
    const at = new At(file);
    const doc = strictObj(parseYaml(readFileSync(path.join(dir, file), 'utf8'), file), ['distros'], at);
    list(doc, 'distros', at).forEach((entry, i) => {
      const eat = at.at('distros').at(i);
      distros.push({ entry: strictObj(entry, DISTRO_KEYS, eat), at: eat });
    });
  }

  /** defs_path → image type name → the type and where it is defined */
  const families = new Map<string, Map<string, { raw: Obj; at: At }>>();
  function family(defsPath: string, at: At): Map<string, { raw: Obj; at: At }> {
    const cached = families.get(defsPath);
    if (cached) return cached;
    if (!FAMILIES.has(defsPath)) at.fail(`definition family ${JSON.stringify(defsPath)} is not one Kiln reads`);
    const fdir = path.join(dir, defsPath);
    const files = readdirSync(fdir).filter((f) => f.endsWith('.yaml') && !f.startsWith('_')).sort();
    const shared = existsSync(path.join(fdir, '_shared.yaml')) ? readFileSync(path.join(fdir, '_shared.yaml'), 'utf8') : '';
    const types = new Map<string, { raw: Obj; at: At }>();
    for (const f of files) {
      const rel = `${defsPath}/${f}`;
      const doc = strictObj(parseYaml(shared + readFileSync(path.join(fdir, f), 'utf8'), rel), ['image_types', '.common', '.shared'], new At(rel));
      const its = doc.image_types;
      if (!isObj(its)) return new At(rel).fail('image_types must be a mapping');
      for (const [name, it] of Object.entries(its)) {
        if (types.has(name)) new At(rel).fail(`duplicate image type ${name}`);
        const tat = new At(`${rel}: image type ${name}`);
        types.set(name, { raw: strictObj(it, IMAGE_TYPE_KEYS, tat), at: tat });
      }
    }
    families.set(defsPath, types);
    return types;
  }

  const resolvedDistros = new Map<string, ResolvedDistro>();
  function resolveDistroInternal(requested: string): ResolvedDistro {
    const cached = resolvedDistros.get(requested);
    if (cached) return cached;
    let found: RawDistro | undefined;
    let nameVer = requested;
    for (const d of distros) {
      if (d.entry.name === requested) {
        found = d;
        break;
      }
      const match = str(d.entry, 'match', d.at);
      if (!match) continue;
      const re = new RegExp(`^(?:${match.replace(/\(\?P</g, '(?<')})$`);
      const m = re.exec(requested);
      if (!m) continue;
      if (m.length === 3 || m.length === 4) {
        const g = m.groups ?? {};
        const need = m.length === 3 ? ['name', 'major'] : ['name', 'major', 'minor'];
        for (const n of need) if (g[n] === undefined) d.at.at('match').fail(`cannot find submatch field ${JSON.stringify(n)}`);
        nameVer = m.length === 3 ? `${g.name}-${g.major}` : `${g.name}-${g.major}.${g.minor}`;
      } else if (m.length !== 1) {
        d.at.at('match').fail(`invalid number of submatches for ${JSON.stringify(requested)} (${m.length})`);
      }
      found = d;
      break;
    }
    if (!found) throw new UpstreamDefsError(`no upstream distro matches ${JSON.stringify(requested)}`);
    const { entry, at } = found;
    const id = parseID(nameVer, at);
    const tdata = { Name: id.Name, MajorVersion: id.MajorVersion, MinorVersion: id.MinorVersion };
    const t = (key: string): string => goTemplate(str(entry, key, at), tdata, at.at(key));
    const runner = strictObj(entry.runner, ['name', 'build_packages'], at.at('runner'));
    const fsType = str(entry, 'default_fs_type', at);
    if (!['', 'vfat', 'ext4', 'xfs', 'btrfs'].includes(fsType)) at.at('default_fs_type').fail(`unknown filesystem type ${JSON.stringify(fsType)}`);
    const warnings: string[] = [];

    // distroImageConfig.For: conditions evaluated without an arch
    const ic = strictObj(entry.image_config, ['default', 'conditions'], at.at('image_config'));
    const icDefault = setKeys(strictObj(ic.default, IMAGE_CONFIG_KEYS, at.at('image_config.default')));
    const icConds = matching(conditionsOf(ic.conditions, ['shallow_merge'], at.at('image_config')), id, '');
    const imageConfig = mergeConditions(icDefault, icConds, 'shallow_merge', 'condition', 'distro image_config', warnings, keysValidator(IMAGE_CONFIG_KEYS));

    // GetTweaks: tweaks.InheritFrom(cond.Tweaks) per matching condition, arch "" — the base wins
    const conds = conditionsOf(entry.conditions, ['ignore_image_types', 'tweaks'], at);
    for (const c of conds) if (c.body.when === undefined || c.body.when === null) c.at.fail('condition without when (upstream dereferences nil)');
    const tweaksValidate = (o: Obj, tat: At): void => {
      const tw = strictObj(o, ['rpmkeys'], tat);
      strictObj(tw.rpmkeys, ['binary_path', 'ignore_build_import_failures'], tat.at('rpmkeys'));
    };
    const baseTweaks = entry.tweaks === undefined || entry.tweaks === null ? null : strictObj(entry.tweaks, ['rpmkeys'], at.at('tweaks'));
    if (baseTweaks) tweaksValidate(baseTweaks, at.at('tweaks'));
    const tweakConds = matching(conds, id, '');
    const tweaksRaw = mergeConditions(setKeys(baseTweaks ?? {}), tweakConds, 'tweaks', 'base', 'distro tweaks', warnings, tweaksValidate);
    let tweaks: ComparableDistro['tweaks'] = null;
    if (baseTweaks || tweakConds.some((c) => c.body.tweaks !== undefined && c.body.tweaks !== null)) {
      const rk = isObj(tweaksRaw.rpmkeys) ? tweaksRaw.rpmkeys : null;
      tweaks = { rpmkeys: rk && { binary_path: str(rk, 'binary_path', at), ignore_build_import_failures: bool(rk, 'ignore_build_import_failures', at) } };
    }

    const bootstrap = strictObj(entry.bootstrap_containers, ARCHES, at.at('bootstrap_containers'));
    const comparable: ComparableDistro = {
      name: t('name'),
      id: { name: id.Name, major: id.MajorVersion, minor: id.MinorVersion === -1 ? null : id.MinorVersion },
      compare_version: compareVersion(id),
      distro_like: str(entry, 'distro_like', at),
      product: str(entry, 'product', at),
      os_version: t('os_version'),
      release_version: t('release_version'),
      module_platform_id: t('module_platform_id'),
      vendor: str(entry, 'vendor', at),
      codename: str(entry, 'codename', at),
      preview: bool(entry, 'preview', at),
      default_fs_type: fsType,
      iso_label_tmpl: str(entry, 'iso_label_tmpl', at),
      runner: { name: goTemplate(str(runner, 'name', at), tdata, at.at('runner.name')), build_packages: strList(runner, 'build_packages', at.at('runner')) },
      bootstrap_containers: Object.fromEntries(Object.keys(bootstrap).sort().map((a) => [a, goTemplate(str(bootstrap, a, at), tdata, at.at(`bootstrap_containers.${a}`))])),
      oscap_profiles_allowlist: strList(entry, 'oscap_profiles_allowlist', at),
      image_config: imageConfig,
      tweaks,
      warnings,
    };
    const resolved: ResolvedDistro = { comparable, id, raw: entry, at, family: str(entry, 'defs_path', at) };
    resolvedDistros.set(requested, resolved);
    return resolved;
  }

  /** SkipImageType: any matching distro condition (evaluated with the arch) lists the type. */
  function skipImageType(d: ResolvedDistro, name: string, arch: string): boolean {
    const conds = conditionsOf(d.raw.conditions, ['ignore_image_types', 'tweaks'], d.at);
    return matching(conds, d.id, arch).some((c) => strList(c.body, 'ignore_image_types', c.at).includes(name));
  }

  /** PlatformsFor: platforms_override (evaluated without an arch) replaces the whole list; more than one match is an error. */
  function platformsFor(d: ResolvedDistro, name: string, it: Obj, at: At): ComparablePlatform[] {
    const vendor = d.comparable.vendor;
    let pls = list(it, 'platforms', at).map((p, i) => platformOf(p, vendor, at.at('platforms').at(i)));
    const po = it.platforms_override;
    if (po !== undefined && po !== null) {
      const oat = at.at('platforms_override');
      const m = matching(conditionsOf(strictObj(po, ['conditions'], oat).conditions, ['override'], oat), d.id, '');
      if (m.length > 1) oat.fail(`platform conditionals for image type ${JSON.stringify(name)} should match only once but matched ${m.length} times (${m.map((c) => c.desc).join(', ')})`);
      if (m.length === 1) pls = list(m[0].body, 'override', m[0].at).map((p, i) => platformOf(p, vendor, m[0].at.at('override').at(i)));
    }
    return pls;
  }

  const archIndexes = new Map<string, Map<string, ArchIndex>>();
  /** NewWithLoader: every image type with a filename, per platform arch, minus the distro's ignore list; aliases per arch. */
  function archIndex(d: ResolvedDistro): Map<string, ArchIndex> {
    const cached = archIndexes.get(d.comparable.name);
    if (cached) return cached;
    const types = family(d.family, d.at.at('defs_path'));
    const arches = new Map<string, ArchIndex>();
    for (const name of [...types.keys()].sort()) {
      const { raw, at } = types.get(name) as { raw: Obj; at: At };
      if (!str(raw, 'filename', at)) continue;
      for (const platform of platformsFor(d, name, raw, at)) {
        const ar = arches.get(platform.arch) ?? { types: new Map(), aliases: new Map() };
        arches.set(platform.arch, ar);
        if (skipImageType(d, name, platform.arch)) continue;
        if (ar.types.has(name)) at.fail(`lists arch ${platform.arch} twice for ${d.comparable.name} (upstream keeps the last and then refuses its aliases)`);
        ar.types.set(name, { raw, at, platform });
        for (const alias of strList(raw, 'name_aliases', at)) {
          const other = ar.aliases.get(alias);
          if (other !== undefined) at.fail(`image type alias '${alias}' for '${name}' is already defined for another image type '${other}' (${d.comparable.name}, ${platform.arch})`);
          ar.aliases.set(alias, name);
        }
      }
    }
    archIndexes.set(d.comparable.name, arches);
    return arches;
  }

  function resolveUpstream(distroName: string, imageType: string, arch: string): ComparableDefinition {
    const d = resolveDistroInternal(distroName);
    const id = d.id;
    const ar = archIndex(d).get(arch);
    if (!ar) throw new UpstreamDefsError(`${d.comparable.name} has no image types on ${arch}`);
    const name = ar.types.has(imageType) ? imageType : ar.aliases.get(imageType);
    const found = name === undefined ? undefined : ar.types.get(name);
    if (name === undefined || !found) throw new UpstreamDefsError(`${d.comparable.name} has no image type ${JSON.stringify(imageType)} on ${arch}`);
    const { raw, at, platform } = found;
    const warnings: string[] = [...d.comparable.warnings];
    const notes: string[] = [];
    const defaultFs = d.comparable.default_fs_type;

    const kind = str(raw, 'image_func', at);
    if (!IMAGE_FUNCS.includes(kind)) at.at('image_func').fail(`unknown image func: ${kind}`);
    const compression = str(raw, 'compression', at);
    if (!['', 'xz', 'zstd', 'gzip'].includes(compression)) at.at('compression').fail(`unsupported compression ${JSON.stringify(compression)} (upstream panics)`);
    const bootIso = bool(raw, 'boot_iso', at);

    // package sets: entries in order, their matching conditions appended, then sorted (no dedupe upstream)
    const packageSets: Record<string, ComparablePackageSet> = {};
    const ps = mapping(raw.package_sets, at.at('package_sets'));
    for (const setName of Object.keys(ps).sort()) {
      const include: string[] = [];
      const exclude: string[] = [];
      list(ps, setName, at.at('package_sets')).forEach((entry, i) => {
        const eat = at.at('package_sets').at(setName).at(i);
        const e = strictObj(entry, ['include', 'exclude', 'conditions'], eat);
        include.push(...strList(e, 'include', eat));
        exclude.push(...strList(e, 'exclude', eat));
        for (const c of matching(conditionsOf(e.conditions, ['append'], eat), id, arch)) {
          const a = strictObj(c.body.append, ['include', 'exclude'], c.at.at('append'));
          include.push(...strList(a, 'include', c.at));
          exclude.push(...strList(a, 'exclude', c.at));
        }
      });
      packageSets[setName] = {
        include: sortedUnique(include),
        exclude: sortedUnique(exclude),
        duplicated: { include: duplicatesOf(include), exclude: duplicatesOf(exclude) },
      };
    }

    // partition table: partition_table[arch], replaced by the override of a matching condition
    let partitionTable: ComparablePartitionTable | null = null;
    const tables = raw.partition_table;
    if (isObj(tables) && tables[arch] !== undefined) {
      let table: unknown = tables[arch];
      let tat = at.at('partition_table').at(arch);
      const pto = raw.partition_tables_override;
      if (pto !== undefined && pto !== null) {
        const oat = at.at('partition_tables_override');
        const m = matching(conditionsOf(strictObj(pto, ['conditions'], oat).conditions, ['override'], oat), id, arch);
        if (m.length > 1) warnings.push(`partition_tables_override: conditions ${m.map((c) => JSON.stringify(c.desc)).join(' and ')} all match; upstream picks one at random, the last in sorted order is used here`);
        const last = m[m.length - 1];
        if (last) {
          const override = mapping(last.body.override, last.at.at('override'));
          if (override[arch] === undefined || override[arch] === null) last.at.fail(`override has no table for ${arch} (upstream uses a nil table and crashes)`);
          table = override[arch];
          tat = last.at.at('override').at(arch);
        }
      }
      partitionTable = partitionTableOf(table, tat, defaultFs);
    } else if (tables !== undefined && tables !== null && !isObj(tables)) {
      at.at('partition_table').fail('expected a mapping of arch to table');
    }
    if (DISK_FUNCS.has(kind) && !partitionTable) at.fail(`${kind} image on ${arch} without a partition table (upstream: no partition table for arch)`);

    const rps = raw.required_partition_sizes;
    const required: Record<string, number> =
      rps === undefined || rps === null
        ? { '/': 1 * GiB, '/usr': 2 * GiB }
        : Object.fromEntries(Object.entries(mapping(rps, at.at('required_partition_sizes'))).map(([k, v]) => [k, size(v, at.at('required_partition_sizes').at(k))]));
    const defaultSize = size(raw.default_size, at.at('default_size'));
    const layout = DISK_FUNCS.has(kind) && partitionTable ? upstreamLayout(partitionTable, required, defaultSize) : null;

    // image config: type (conditions with arch) over distro (conditions without arch), per top-level key
    const typeConfig = configBlock(raw.image_config, IMAGE_CONFIG_KEYS, id, arch, 'image_config', at.at('image_config'), warnings) ?? {};
    const imageConfig: Obj = { ...d.comparable.image_config, ...typeConfig };
    const sortedKeys = (o: Obj): Obj => Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));

    let installerConfig: Obj | null = null;
    let isoConfig: Obj | null = null;
    if (bootIso) {
      installerConfig = configBlock(raw.installer_config, INSTALLER_CONFIG_KEYS, id, arch, 'installer_config', at.at('installer_config'), warnings) ?? {};
      // WithExpandTemplates: flatpak references are templates over .Arch and .Distro
      if (Array.isArray(installerConfig.flatpaks)) {
        installerConfig.flatpaks = installerConfig.flatpaks.map((fp, i) => {
          const fat = at.at('installer_config.flatpaks').at(i);
          if (!isObj(fp)) return fat.fail('flatpak object was nil');
          const refs = strList(fp, 'references', fat).map((r) => {
            const x = goTemplate(r, { Arch: arch, Distro: id }, fat.at('references'));
            if (!x) fat.fail('empty flatpak ref after expansion');
            return x;
          });
          return fp.references === undefined ? fp : { ...fp, references: refs };
        });
      }
      isoConfig = configBlock(raw.iso_config, ISO_CONFIG_KEYS, id, arch, 'iso_config', at.at('iso_config'), warnings) ?? {};
    } else {
      for (const k of ['installer_config', 'iso_config', 'iso_label', 'variant']) {
        if (raw[k] !== undefined && raw[k] !== null && raw[k] !== '') notes.push(`${k} is set but the type is not boot_iso (upstream ignores it)`);
      }
    }
    const diskConfig = configBlock(raw.disk_config, DISK_CONFIG_KEYS, id, arch, 'disk_config', at.at('disk_config'), warnings) ?? {};

    const env = strictObj(raw.environment, ['packages', 'repos', 'services'], at.at('environment'));
    if (list(env, 'repos', at).length) notes.push('environment.repos is set (upstream never reads it)');
    const ostreeRaw = strictObj(raw.ostree, ['name', 'remote_name', 'ref', 'url'], at.at('ostree'));
    const ostreeFields = { name: str(ostreeRaw, 'name', at), remote_name: str(ostreeRaw, 'remote_name', at), ref: str(ostreeRaw, 'ref', at), url: str(ostreeRaw, 'url', at) };
    let ostree: ComparableDefinition['ostree'] = null;
    if (ostreeFields.name || ostreeFields.remote_name || ostreeFields.ref || ostreeFields.url) {
      const ref = goTemplate(ostreeFields.ref, { Arch: arch, Distro: id }, at.at('ostree.ref'));
      // upstream's newImageTypeFrom swallows this error and registers an empty image type instead
      if (!ref) at.at('ostree.ref').fail('empty ostree ref after expansion');
      ostree = { ...ostreeFields, ref };
    }
    const bp = strictObj(raw.blueprint, ['supported_options', 'required_options'], at.at('blueprint'));
    const modes = strList(raw, 'supported_partitioning_modes', at);
    for (const m of modes) if (!['', 'auto-lvm', 'lvm', 'raw', 'btrfs'].includes(m)) at.at('supported_partitioning_modes').fail(`unknown partitioning mode ${JSON.stringify(m)}`);
    if (raw.install_weak_deps !== undefined && raw.install_weak_deps !== null) notes.push('install_weak_deps is set on the image type (upstream parses it and never reads it)');

    const isoLabel = str(raw, 'iso_label', at);
    const exports = strList(raw, 'exports', at);
    const finalImageConfig = sortedKeys(imageConfig);
    const listOf = (k: string): string[] => (Array.isArray(finalImageConfig[k]) ? (finalImageConfig[k] as string[]).slice() : []);
    const bootMode: ComparableDefinition['boot_mode'] =
      platform.uefi_vendor && platform.bios_platform ? 'hybrid' : platform.uefi_vendor ? 'uefi' : platform.bios_platform || platform.zipl_support ? 'legacy' : 'none';
    return {
      distro: d.comparable.name,
      arch,
      name,
      aliases: sortedUnique(strList(raw, 'name_aliases', at)),
      kind,
      filename: str(raw, 'filename', at),
      mime_type: str(raw, 'mime_type', at),
      exports: exports.length ? exports : ['assembler'],
      compression,
      bootable: bool(raw, 'bootable', at),
      boot_iso: bootIso,
      iso_label: isoLabel,
      iso_volume_label: bootIso
        ? goTemplate(d.comparable.iso_label_tmpl, { Distro: id, Product: d.comparable.product, Arch: arch, ISOLabel: isoLabel }, d.at.at('iso_label_tmpl'))
        : null,
      variant: str(raw, 'variant', at),
      default_size: defaultSize,
      required_partition_sizes: Object.fromEntries(Object.keys(required).sort().map((k) => [k, required[k]])),
      supported_partitioning_modes: sortedUnique(modes),
      blueprint: { supported_options: sortedUnique(strList(bp, 'supported_options', at)), required_options: sortedUnique(strList(bp, 'required_options', at)) },
      environment: { packages: sortedUnique(strList(env, 'packages', at)), services: strList(env, 'services', at) },
      ostree,
      use_ostree_remotes: bool(raw, 'use_ostree_remotes', at),
      use_legacy_anaconda_config: bool(raw, 'use_legacy_anaconda_config', at),
      disk_image_vpc_force_size: optBool(raw, 'disk_image_vpc_force_size', at),
      boot_mode: bootMode,
      platform,
      package_sets: packageSets,
      partition_table: partitionTable,
      layout,
      image_config: finalImageConfig,
      installer_config: installerConfig && sortedKeys(installerConfig),
      iso_config: isoConfig && sortedKeys(isoConfig),
      disk_config: sortedKeys(diskConfig),
      kernel_options: listOf('kernel_options'),
      enabled_services: listOf('enabled_services'),
      disabled_services: listOf('disabled_services'),
      masked_services: listOf('maskedservices'),
      warnings,
      notes,
    };
  }

  function upstreamMatrix(names: readonly string[] = KILN_DISTROS): MatrixEntry[] {
    const out: MatrixEntry[] = [];
    for (const n of names) {
      const d = resolveDistroInternal(n);
      const rows: MatrixEntry[] = [];
      for (const [arch, ar] of archIndex(d)) {
        for (const [name, { raw, at }] of ar.types) {
          rows.push({ distro: d.comparable.name, family: d.family, name, arch, aliases: sortedUnique(strList(raw, 'name_aliases', at)), kind: str(raw, 'image_func', at) });
        }
      }
      rows.sort((a, b) => (a.name === b.name ? ARCHES.indexOf(a.arch) - ARCHES.indexOf(b.arch) : a.name < b.name ? -1 : 1));
      out.push(...rows);
    }
    return out;
  }

  return {
    dir,
    upstreamDistros: () => KILN_DISTROS.map((n) => resolveDistroInternal(n).comparable),
    resolveDistro: (n) => resolveDistroInternal(n).comparable,
    resolveUpstream,
    upstreamMatrix,
  };
}
