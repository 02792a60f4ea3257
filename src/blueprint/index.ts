/**
 * Blueprints: Kiln's one vocabulary for what a build adds to an image type, as image-builder
 * writes it (osbuild/blueprint; TOML or JSON, the same keys). composer's request customizations,
 * imageBuilderBuild's `blueprint` and `kiln compose --blueprint` all arrive here; every rule
 * osbuild/images applies to a blueprint is checked here or where the image type is known
 * (src/osbuild/manifest.ts), with errors naming the field.
 */
import { X509Certificate } from 'node:crypto';
import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { InvalidInputError } from '../errors.js';
import { validate } from '../schemas.js';
import type { Blueprint } from '../generated/blueprint.schema.js';
import { parseSize } from '../osbuild/definitions/sizes.js';
import { parseReference } from '../containers/index.js';
import { cryptPassword } from './crypt.js';

export type { Blueprint } from '../generated/blueprint.schema.js';
export type BlueprintCustomizations = NonNullable<Blueprint['customizations']>;
export { cryptPassword, isCrypted, saltOf, sha512Crypt } from './crypt.js';

/**
 * A blueprint from its text: TOML (image-builder's usual form) or JSON, told apart by the
 * format given or by the first character. TOML's `size` is an alias of a filesystem's `minsize`.
 */
export function parseBlueprint(text: string, format?: 'toml' | 'json', field = 'blueprint'): Blueprint {
  const kind = format ?? (text.trimStart().startsWith('{') ? 'json' : 'toml');
  let doc: unknown;
  try {
    doc = kind === 'json' ? JSON.parse(text) : parseToml(text);
  } catch (err) {
    throw new InvalidInputError(field, `is not valid ${kind.toUpperCase()}: ${(err as Error).message.split('\n')[0]}`);
  }
  if (kind === 'toml') {
    const fs = (doc as { customizations?: { filesystem?: Record<string, unknown>[] } }).customizations?.filesystem;
    fs?.forEach((f, i) => {
      if (f.size === undefined) return;
      if (f.minsize !== undefined) throw new InvalidInputError(`${field}.customizations.filesystem[${i}]`, 'size and minsize cannot both be set (size is an alias for minsize)');
      f.minsize = f.size;
      delete f.size;
    });
  }
  return checkBlueprint(doc, field);
}

const USER_NAME = /^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,31}$/;
const GROUP_NAME = /^[A-Za-z0-9_][A-Za-z0-9_-]{0,31}$/;
const MODE = /^0?[0-7]{3}$/;
const REPO_ID = /^[\w.\-:]+$/;
const REPO_FILE = /^[\w.-]{1,250}\.repo$/;
const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;
const ANACONDA_USERS = 'org.fedoraproject.Anaconda.Modules.Users';

/** Where custom files and directories may go (osbuild/images' policies): everywhere except these, /usr/local allowed again. */
const DENIED_DIRECTORIES = ['/bin', '/boot', '/dev', '/efi', '/lib', '/lib64', '/lost+found', '/proc', '/run', '/sbin', '/sys', '/sysroot', '/tmp', '/usr', '/var/run', '/var/tmp'];
const DENIED_FILES = [...DENIED_DIRECTORIES, '/etc/fstab', '/etc/group', '/etc/passwd', '/etc/shadow'];

function under(p: string, root: string): boolean {
  return p === root || p.startsWith(`${root}/`);
}

/** Whether a custom file or directory may be written at `p` (for ostree trees, only /etc and a few more). */
export function pathAllowed(p: string, kind: 'file' | 'directory', ostree: boolean): boolean {
  if (ostree) {
    if (['/etc/fstab', '/etc/shadow', '/etc/passwd', '/etc/group'].includes(p)) return false;
    return kind === 'directory' ? under(p, '/etc') : ['/etc', '/root', '/usr/local/bin', '/usr/local/sbin'].some((r) => under(p, r));
  }
  if (under(p, '/usr/local')) return true;
  return !(kind === 'file' ? DENIED_FILES : DENIED_DIRECTORIES).some((d) => under(p, d));
}

function checkPath(p: string, field: string): void {
  if (!p) throw new InvalidInputError(field, 'must not be empty');
  if (!p.startsWith('/')) throw new InvalidInputError(field, `${JSON.stringify(p)} must be absolute`);
  if (p.length > 1 && p.endsWith('/')) throw new InvalidInputError(field, `${JSON.stringify(p)} must not end with a slash`);
  if (p === '/') throw new InvalidInputError(field, 'must not be / itself');
  if (path.posix.normalize(p) !== p) throw new InvalidInputError(field, `${JSON.stringify(p)} must be canonical (did you mean ${JSON.stringify(path.posix.normalize(p))}?)`);
}

function checkOwner(value: string | number | undefined, field: string, re: RegExp): void {
  if (value === undefined) return;
  if (typeof value === 'number') return; // the schema keeps it a non-negative integer
  if (!re.test(value)) throw new InvalidInputError(field, `${JSON.stringify(value)} is not a valid name (${re.source})`);
}

function checkNodes(c: BlueprintCustomizations, field: string): void {
  const seen = new Map<string, string>();
  const nodes: { path: string; kind: 'file' | 'directory'; field: string }[] = [];
  c.directories?.forEach((d, i) => nodes.push({ path: d.path, kind: 'directory', field: `${field}.directories[${i}]` }));
  c.files?.forEach((f, i) => nodes.push({ path: f.path, kind: 'file', field: `${field}.files[${i}]` }));
  for (const n of nodes) {
    checkPath(n.path, `${n.field}.path`);
    if (seen.has(n.path)) throw new InvalidInputError(`${n.field}.path`, `${n.path} is also ${seen.get(n.path)}`);
    seen.set(n.path, n.field);
  }
  for (const [i, d] of (c.directories ?? []).entries()) {
    const f = `${field}.directories[${i}]`;
    if (d.mode !== undefined && !MODE.test(d.mode)) throw new InvalidInputError(`${f}.mode`, `${JSON.stringify(d.mode)} must be an octal mode such as "0755"`);
    checkOwner(d.user, `${f}.user`, USER_NAME);
    checkOwner(d.group, `${f}.group`, GROUP_NAME);
  }
  for (const [i, file] of (c.files ?? []).entries()) {
    const f = `${field}.files[${i}]`;
    if (file.mode !== undefined && !MODE.test(file.mode)) throw new InvalidInputError(`${f}.mode`, `${JSON.stringify(file.mode)} must be an octal mode such as "0644"`);
    checkOwner(file.user, `${f}.user`, USER_NAME);
    checkOwner(file.group, `${f}.group`, GROUP_NAME);
    // image-builder reads uri from the host that builds; Kiln's builds run on other hosts than the request's
    if (file.uri !== undefined) throw new InvalidInputError(`${f}.uri`, 'is not supported: the file would be read on the build host; give its content in data');
    if (file.ensure_parents) throw new InvalidInputError(`${f}.ensure_parents`, 'is for directories; add the parent to customizations.directories');
    // a file may not be the parent of another node
    for (const n of nodes) if (n.path.startsWith(`${file.path}/`)) throw new InvalidInputError(`${f}.path`, `${file.path} is a file, but ${n.path} (${n.field}) is inside it`);
  }
}

function checkRepositories(c: BlueprintCustomizations, field: string): void {
  for (const [i, r] of (c.repositories ?? []).entries()) {
    const f = `${field}.repositories[${i}]`;
    if (!REPO_ID.test(r.id)) throw new InvalidInputError(`${f}.id`, `${JSON.stringify(r.id)} may hold letters, digits, _, ., - and : only`);
    const filename = r.filename ? (r.filename.endsWith('.repo') ? r.filename : `${r.filename}.repo`) : `${r.id}.repo`;
    if (!REPO_FILE.test(filename)) throw new InvalidInputError(`${f}.filename`, `repository file name ${JSON.stringify(filename)} is invalid`);
    if (!r.baseurls?.length && !r.mirrorlist && !r.metalink) throw new InvalidInputError(f, 'a base URL, mirrorlist or metalink is required');
    if (r.gpgcheck && !r.gpgkeys?.length) throw new InvalidInputError(`${f}.gpgkeys`, 'gpgcheck is set, so keys are required');
    for (const [k, key] of (r.gpgkeys ?? []).entries()) {
      const armored = key.startsWith('-----BEGIN PGP PUBLIC KEY BLOCK-----') && key.includes('-----END PGP PUBLIC KEY BLOCK-----');
      if (!armored && !/^[a-z][a-z0-9+.-]*:\/\/\S+$/i.test(key)) throw new InvalidInputError(`${f}.gpgkeys[${k}]`, 'is neither an ASCII-armored key nor a URL');
    }
  }
}

function checkCertificates(c: BlueprintCustomizations, field: string): void {
  for (const [i, pem] of (c.cacerts?.pem_certs ?? []).entries()) {
    const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    if (!blocks.length) throw new InvalidInputError(`${field}.cacerts.pem_certs[${i}]`, 'holds no PEM certificate');
    for (const b of blocks) {
      try {
        new X509Certificate(b);
      } catch (err) {
        throw new InvalidInputError(`${field}.cacerts.pem_certs[${i}]`, `is not a valid certificate: ${(err as Error).message}`);
      }
    }
  }
}

function checkContainers(bp: Blueprint, field: string): void {
  bp.containers?.forEach((ct, i) => {
    const f = `${field}.containers[${i}]`;
    const ref = parseReference(ct.source);
    if (typeof ref === 'string') throw new InvalidInputError(`${f}.source`, `${JSON.stringify(ct.source)} ${ref}`);
    // the build host's containers-storage is not the requester's: Kiln's builds run on worker hosts
    if (ct['local-storage']) {
      throw new InvalidInputError(`${f}.local-storage`, "is not supported: Kiln resolves and builds on worker hosts, whose container storage is not the requester's; push the image to a registry and name it in source");
    }
  });
  const storage = bp.customizations?.['containers-storage'];
  if (storage) {
    const f = `${field}.customizations.containers-storage.destination-path`;
    const p = storage['destination-path'];
    if (p === undefined) throw new InvalidInputError(f, 'is required when containers-storage is given');
    if (p !== '') checkPath(p, f);
  }
}

/**
 * The schema and every rule that does not depend on the image type (those that do — supported
 * options, OpenSCAP profiles, partitioning modes, mount points — are checked with the image).
 */
export function checkBlueprint(value: unknown, field = 'blueprint'): Blueprint {
  const bp = validate<Blueprint>('blueprint.schema', structuredClone(value), field);
  if (bp.version !== undefined && !SEMVER.test(bp.version)) throw new InvalidInputError(`${field}.version`, `${JSON.stringify(bp.version)} is not a semantic version (1.0.0)`);
  bp.containers?.forEach((container, i) => {
    // composer's cloud API spells it tls_verify
    if (container.tls_verify === undefined) return;
    if (container['tls-verify'] !== undefined && container['tls-verify'] !== container.tls_verify) {
      throw new InvalidInputError(`${field}.containers[${i}].tls_verify`, 'contradicts tls-verify (the same option, spelled as image-builder spells it)');
    }
    container['tls-verify'] = container.tls_verify;
    delete container.tls_verify;
  });
  const c = bp.customizations ?? {};
  const cf = `${field}.customizations`;
  c.user?.forEach((u, i) => {
    if (!USER_NAME.test(u.name)) throw new InvalidInputError(`${cf}.user[${i}].name`, `${JSON.stringify(u.name)} is not a valid user name`);
    u.groups?.forEach((g, j) => {
      if (!GROUP_NAME.test(g) && !USER_NAME.test(g)) throw new InvalidInputError(`${cf}.user[${i}].groups[${j}]`, `${JSON.stringify(g)} is not a valid group name`);
    });
  });
  const groupNames = new Set<string>();
  const gids = new Set<number>();
  c.group?.forEach((g, i) => {
    if (!GROUP_NAME.test(g.name)) throw new InvalidInputError(`${cf}.group[${i}].name`, `${JSON.stringify(g.name)} is not a valid group name`);
    if (groupNames.has(g.name)) throw new InvalidInputError(`${cf}.group[${i}].name`, `duplicate group name: ${g.name}`);
    groupNames.add(g.name);
    if (g.gid !== undefined) {
      if (gids.has(g.gid)) throw new InvalidInputError(`${cf}.group[${i}].gid`, `duplicate group ID: ${g.gid}`);
      gids.add(g.gid);
    }
  });
  c.firewall?.zones?.forEach((z, i) => {
    if (!z.name || !/^[a-zA-Z0-9_-]+$/.test(z.name)) throw new InvalidInputError(`${cf}.firewall.zones[${i}].name`, 'is required: letters, digits, _ and -');
  });
  c.firewall?.ports?.forEach((p, i) => {
    if (!/^[^\s]+:(tcp|udp|sctp|dccp)$/.test(p)) throw new InvalidInputError(`${cf}.firewall.ports[${i}]`, `${JSON.stringify(p)} must be port:protocol (22:tcp, 8000-8080:udp, imap:tcp)`);
  });
  c.filesystem?.forEach((f, i) => {
    if (parseSize(f.minsize) === undefined) throw new InvalidInputError(`${cf}.filesystem[${i}].minsize`, `${JSON.stringify(f.minsize)} is not a size`);
  });
  if (c.disk && c.filesystem?.length) throw new InvalidInputError(`${cf}.disk`, 'cannot be used with customizations.filesystem');
  checkNodes(c, cf);
  checkRepositories(c, cf);
  checkCertificates(c, cf);
  if (c.ignition?.firstboot && c.ignition.firstboot.url && c.ignition.firstboot.empty) throw new InvalidInputError(`${cf}.ignition.firstboot`, 'url and empty are mutually exclusive');
  if (c.ignition?.embedded && c.ignition.firstboot) throw new InvalidInputError(`${cf}.ignition.embedded`, 'cannot be used with customizations.ignition.firstboot');
  if (c.ignition?.firstboot && !c.ignition.firstboot.url && !c.ignition.firstboot.empty) throw new InvalidInputError(`${cf}.ignition.firstboot.url`, 'is required when using customizations.ignition.firstboot');
  if (c.ignition?.embedded) {
    const config = c.ignition.embedded.config ?? '';
    if (!config || !/^[A-Za-z0-9+/]+={0,2}$/.test(config.replace(/\s+/g, ''))) throw new InvalidInputError(`${cf}.ignition.embedded.config`, 'must be the Ignition config in base64');
  }
  if (c.fdo) {
    if (!c.fdo.manufacturing_server_url) throw new InvalidInputError(`${cf}.fdo.manufacturing_server_url`, 'is required when using fdo');
    const keys = [c.fdo.diun_pub_key_hash, c.fdo.diun_pub_key_insecure, c.fdo.diun_pub_key_root_certs].filter((k) => k);
    if (keys.length !== 1) throw new InvalidInputError(`${cf}.fdo`, 'exactly one of diun_pub_key_hash, diun_pub_key_insecure, diun_pub_key_root_certs is required when using fdo');
  }
  if (c.openscap) {
    if (!c.openscap.profile_id) throw new InvalidInputError(`${cf}.openscap.profile_id`, 'is required when using customizations.openscap');
    if (c.openscap.tailoring && c.openscap.json_tailoring) throw new InvalidInputError(`${cf}.openscap`, 'choose one of tailoring and json_tailoring');
    if (c.openscap.json_tailoring && (!c.openscap.json_tailoring.filepath || !c.openscap.json_tailoring.profile_id)) {
      throw new InvalidInputError(`${cf}.openscap.json_tailoring`, 'needs filepath and profile_id');
    }
  }
  checkContainers(bp, field);
  const installer = c.installer;
  if (installer?.kickstart?.contents !== undefined) {
    if (installer.unattended) throw new InvalidInputError(`${cf}.installer.unattended`, 'is not supported when adding custom kickstart contents');
    if (installer['sudo-nopasswd']?.length) throw new InvalidInputError(`${cf}.installer.sudo-nopasswd`, 'is not supported when adding custom kickstart contents');
    if (c.user?.length || c.group?.length) throw new InvalidInputError(`${cf}.installer.kickstart.contents`, 'cannot be used with customizations.user or customizations.group');
  }
  if (installer?.modules?.disable?.includes(ANACONDA_USERS) && (c.user?.length || c.group?.length || c.sshkey?.length)) {
    throw new InvalidInputError(`${cf}.installer.modules.disable`, `the blueprint has users or groups but disables ${ANACONDA_USERS}, which creates them`);
  }
  if (c.iso?.volume_id !== undefined && !/^[\w-]+$/.test(c.iso.volume_id)) throw new InvalidInputError(`${cf}.iso.volume_id`, 'may hold letters, digits, - and _ only');
  if (c.kernel?.append !== undefined && /[\n\r]/.test(c.kernel.append)) throw new InvalidInputError(`${cf}.kernel.append`, 'must be one line');
  if (typeof c.sshd?.permit_root_login === 'string' && !['prohibit-password', 'forced-commands-only', 'yes', 'no'].includes(c.sshd.permit_root_login)) {
    throw new InvalidInputError(`${cf}.sshd.permit_root_login`, 'must be true, false, "yes", "no", "prohibit-password" or "forced-commands-only"');
  }
  return bp;
}

/** A user as the build writes it: sshkey entries become users, a later user of the same name replaces one. */
export type BlueprintUser = NonNullable<BlueprintCustomizations['user']>[number];

export function blueprintUsers(c: BlueprintCustomizations): BlueprintUser[] {
  const byName = new Map<string, BlueprintUser>();
  for (const k of c.sshkey ?? []) byName.set(k.user, { name: k.user, key: k.key });
  for (const u of c.user ?? []) byName.set(u.name, { ...u, ...(u.home ? { home: u.home.replace(/\/+$/, '') || '/' } : {}) });
  return [...byName.values()];
}

/** The blueprint as it is stored with a build: plain-text passwords hashed (never kept in clear). */
export function withCryptedPasswords(bp: Blueprint): Blueprint {
  const users = bp.customizations?.user;
  if (!users?.some((u) => u.password)) return bp;
  return {
    ...bp,
    customizations: { ...bp.customizations, user: users.map((u) => (u.password ? { ...u, password: cryptPassword(u.password) } : u)) },
  };
}

/** Package specs of the blueprint's own transaction: packages and modules (`name-version` when a version is given) and @groups. */
export function blueprintPackages(bp: Blueprint): string[] {
  const spec = (p: { name: string; version?: string }) => (p.version && p.version !== '*' ? `${p.name}-${p.version}` : p.name);
  return [...new Set([...(bp.packages ?? []).map(spec), ...(bp.modules ?? []).map(spec), ...(bp.groups ?? []).map((g) => `@${g.name}`)])];
}
export { MAX_KICKSTART, splitKickstartLine, translateKickstart, type KickstartLine, type KickstartNote, type KickstartTranslation } from './kickstart.js';
