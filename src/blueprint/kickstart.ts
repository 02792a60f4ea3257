/**
 * A kickstart (what `koji image-build` hands to ImageFactory/Oz) → an image-builder blueprint,
 * Kiln's build vocabulary. osbuild does not run kickstarts: commands and %packages with a
 * blueprint equivalent become blueprint fields; what the blueprint checks refuse, and everything
 * without an equivalent (%post above all), is reported as not applied, line by line. What only
 * some image types take is checked with the image (compose check). Installer-only commands (url, repo, reboot, clearpart, …) mean nothing for an image
 * Kiln builds and are reported as ignored: koji image-build itself replaces url and repo lines
 * with the build's install tree and repositories.
 */
import { InvalidInputError } from '../errors.js';
import type { Blueprint } from '../generated/blueprint.schema.js';
import { checkBlueprint, withCryptedPasswords } from './index.js';

export interface KickstartLine {
  /** 1-based line number in the (flattened) kickstart */
  line: number;
  text: string;
}

export interface KickstartNote extends KickstartLine {
  reason: string;
}

export interface KickstartTranslation {
  /** plain-text passwords crypted, as Kiln stores them */
  blueprint: Blueprint;
  /** lines that became blueprint fields (or ask for what the images do anyway) */
  applied: KickstartLine[];
  /** lines whose meaning the image does not get: strict mode refuses the kickstart for these */
  not_applied: KickstartNote[];
  /** installer-only lines, meaningless for an image */
  ignored: KickstartNote[];
}

/** Largest kickstart taken (bytes of text). */
export const MAX_KICKSTART = 1024 * 1024;

/** pykickstart's tokenising (shlex with comments): quotes, backslash escapes, # starts a comment at a token's start. */
export function splitKickstartLine(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inToken = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === quote) quote = null;
      else if (ch === '\\' && quote === '"' && i + 1 < text.length && '"\\$`'.includes(text[i + 1])) cur += text[++i];
      else cur += ch;
      continue;
    }
    if (ch === '#' && !inToken) break;
    if (/\s/.test(ch)) {
      if (inToken) out.push(cur);
      cur = '';
      inToken = false;
      continue;
    }
    inToken = true;
    if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '\\' && i + 1 < text.length) cur += text[++i];
    else cur += ch;
  }
  if (quote) throw new Error('unterminated quote');
  if (inToken) out.push(cur);
  return out;
}

interface Parsed {
  positional: string[];
  options: Map<string, string | true>;
}

/** --name=value, --name value (for options that take one), --flag. */
function parseArgs(args: string[], takesValue: readonly string[]): Parsed {
  const positional: string[] = [];
  const options = new Map<string, string | true>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    if (eq > 0) options.set(a.slice(2, eq).toLowerCase(), a.slice(eq + 1));
    else if (takesValue.includes(a.slice(2).toLowerCase()) && i + 1 < args.length && !args[i + 1].startsWith('--')) options.set(a.slice(2).toLowerCase(), args[++i]);
    else options.set(a.slice(2).toLowerCase(), true);
  }
  return { positional, options };
}

const list = (v: string | true | undefined): string[] => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : []);

/** Installer-only commands: meaningless for an image Kiln builds. */
const INSTALLER_ONLY: Record<string, string> = {
  url: 'the install tree is the build\'s (koji image-build replaces url lines too)',
  repo: 'the repositories are the build\'s (koji image-build drops repo lines too)',
  install: 'installer mode', text: 'installer mode', graphical: 'installer mode', cmdline: 'installer mode',
  skipx: 'installer setting', reboot: 'what the installer does at the end', poweroff: 'what the installer does at the end',
  shutdown: 'what the installer does at the end', halt: 'what the installer does at the end', eula: 'installer setting',
  logging: 'installer setting', zerombr: 'installer disk preparation', clearpart: 'installer disk preparation',
  ignoredisk: 'installer disk selection', reqpart: 'the image type has its own partitions', autopart: 'the image type has its own partitions',
  mediacheck: 'installer setting', vnc: 'installer setting', sshpw: 'installer setting', rescue: 'installer mode',
};

/** Which kickstart options take a separate value (`--name value`). */
const VALUE_OPTIONS = ['name', 'groups', 'password', 'homedir', 'uid', 'gid', 'shell', 'gecos', 'username', 'enabled', 'disabled',
  'append', 'timeout', 'location', 'hostname', 'bootproto', 'device', 'onboot', 'size', 'fstype', 'vckeymap', 'xlayouts',
  'addsupport', 'ntpservers', 'service', 'port', 'trust', 'label', 'maxsize', 'ondisk', 'instlangs', 'inst-langs', 'boot-drive'];

/**
 * Translates a kickstart (with %include already resolved; an %include left in it is reported
 * as not applied). Throws InvalidInputError only for text that cannot be a kickstart.
 */
export function translateKickstart(text: string, field = 'kickstart'): KickstartTranslation {
  if (typeof text !== 'string') throw new InvalidInputError(field, 'must be the kickstart\'s text');
  if (Buffer.byteLength(text) > MAX_KICKSTART) throw new InvalidInputError(field, `is larger than ${MAX_KICKSTART} bytes`);
  const applied: KickstartLine[] = [];
  const notApplied: KickstartNote[] = [];
  const ignored: KickstartNote[] = [];
  const customizations: Record<string, unknown> = {};
  const packages: { name: string }[] = [];
  const groups: { name: string }[] = [];
  const users = new Map<string, Record<string, unknown>>();
  const sshkeys: { user: string; key: string }[] = [];
  const services: { enabled: string[]; disabled: string[] } = { enabled: [], disabled: [] };
  const filesystems: { mountpoint: string; minsize: string }[] = [];
  /** which kickstart lines produced each blueprint field, to report the ones the converter refuses */
  const sources = new Map<string, KickstartLine[]>();
  const from = (fieldPath: string, l: KickstartLine) => {
    sources.set(fieldPath, [...(sources.get(fieldPath) ?? []), l]);
  };
  const user = (name: string) => {
    let u = users.get(name);
    if (!u) users.set(name, (u = { name }));
    return u;
  };

  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  let section: { name: string; start: KickstartLine } | null = null;
  lines.forEach((raw, i) => {
    const l: KickstartLine = { line: i + 1, text: raw.trim() };
    if (!l.text || l.text.startsWith('#')) return;
    if (section) {
      if (/^%end\b/.test(l.text)) {
        section = null;
        return;
      }
      if (section.name !== '%packages') return; // reported once, at the section's start
      let tokens: string[];
      try {
        tokens = splitKickstartLine(l.text);
      } catch (err) {
        throw new InvalidInputError(`${field} line ${l.line}`, (err as Error).message);
      }
      for (const tok of tokens) {
        if (tok.startsWith('@^')) notApplied.push({ ...l, reason: `environment ${tok}: blueprints name package groups, not environments` });
        else if (tok.startsWith('@')) {
          groups.push({ name: tok.slice(1) });
          from(`groups[${groups.length - 1}]`, l);
          applied.push(l);
        } else if (tok.startsWith('-')) notApplied.push({ ...l, reason: `excluding ${tok.slice(1)}: blueprints have no package exclusions` });
        else {
          packages.push({ name: tok });
          from(`packages[${packages.length - 1}]`, l);
          applied.push(l);
        }
      }
      return;
    }
    let tokens: string[];
    try {
      tokens = splitKickstartLine(l.text);
    } catch (err) {
      throw new InvalidInputError(`${field} line ${l.line}`, (err as Error).message);
    }
    if (!tokens.length) return;
    const [cmd, ...args] = tokens;
    const command = cmd.toLowerCase();
    if (command.startsWith('%')) {
      if (command === '%packages') {
        section = { name: command, start: l };
        const opts = parseArgs(args, VALUE_OPTIONS);
        for (const [k] of opts.options) notApplied.push({ ...l, reason: `%packages --${k}: no blueprint equivalent` });
        return;
      }
      if (['%post', '%pre', '%pre-install', '%onerror', '%traceback', '%addon', '%anaconda'].includes(command)) {
        section = { name: command, start: l };
        notApplied.push({ ...l, reason: `${command} sections are not run: osbuild does not run kickstart scripts` });
        return;
      }
      if (command === '%include' || command === '%ksappend') {
        notApplied.push({ ...l, reason: `${command} was not resolved (the builder resolves includes before translating)` });
        return;
      }
      notApplied.push({ ...l, reason: `unknown section ${cmd}` });
      return;
    }
    if (Object.prototype.hasOwnProperty.call(INSTALLER_ONLY, command)) {
      ignored.push({ ...l, reason: INSTALLER_ONLY[command] });
      return;
    }
    const { positional, options } = parseArgs(args, VALUE_OPTIONS);
    const rest = (known: string[]) => [...options.keys()].filter((k) => !known.includes(k));
    const partly = (handled: string[], what: string) => {
      const left = rest(handled);
      if (left.length) notApplied.push({ ...l, reason: `${left.map((k) => `--${k}`).join(', ')}: ${what}` });
    };
    switch (command) {
      case 'timezone': {
        const tz = positional[0] ?? (typeof options.get('timezone') === 'string' ? (options.get('timezone') as string) : undefined);
        if (tz) {
          customizations.timezone = { ...(customizations.timezone as object), timezone: tz };
          from('customizations.timezone.timezone', l);
          applied.push(l);
        }
        if (options.has('ntpservers')) {
          customizations.timezone = { ...(customizations.timezone as object), ntpservers: list(options.get('ntpservers')) };
          from('customizations.timezone.ntpservers', l);
          applied.push(l);
        }
        // --utc/--isUtc: a hardware clock in UTC is what the images assume already
        partly(['utc', 'isutc', 'ntpservers', 'timezone'], 'no blueprint equivalent');
        break;
      }
      case 'lang': {
        if (positional[0]) {
          customizations.locale = { ...(customizations.locale as object), languages: [positional[0], ...list(options.get('addsupport'))] };
          from('customizations.locale', l);
          applied.push(l);
        }
        partly(['addsupport'], 'no blueprint equivalent');
        break;
      }
      case 'keyboard': {
        const map = (options.get('vckeymap') as string | undefined) ?? positional[0];
        if (map) {
          customizations.locale = { ...(customizations.locale as object), keyboard: map };
          from('customizations.locale', l);
          applied.push(l);
        }
        partly(['vckeymap'], 'no blueprint equivalent');
        break;
      }
      case 'rootpw': {
        const pw = positional[0];
        if (options.has('lock') && (!pw || pw === 'locked')) {
          // root without a password: what Kiln's images have
          applied.push(l);
        } else if (pw) {
          // a plain-text password is crypted before it is stored
          user('root').password = pw;
          from(`user:root.password`, l);
          applied.push(l);
          if (options.has('lock')) notApplied.push({ ...l, reason: '--lock with a password: blueprints cannot lock accounts' });
        }
        partly(['iscrypted', 'plaintext', 'lock'], 'no blueprint equivalent');
        break;
      }
      case 'user': {
        const name = options.get('name');
        if (typeof name !== 'string') {
          notApplied.push({ ...l, reason: 'user without --name' });
          break;
        }
        const u = user(name);
        from(`user:${name}`, l);
        if (options.has('groups')) u.groups = list(options.get('groups'));
        const pw = options.get('password');
        if (typeof pw === 'string') u.password = pw;
        for (const [opt, bp] of [['homedir', 'home'], ['uid', 'uid'], ['gid', 'gid'], ['shell', 'shell'], ['gecos', 'description']] as const) {
          const v = options.get(opt);
          if (typeof v === 'string') {
            u[bp] = bp === 'uid' || bp === 'gid' ? Number(v) : v;
            from(`user:${name}.${bp}`, l);
          }
        }
        partly(['name', 'groups', 'password', 'iscrypted', 'plaintext', 'homedir', 'uid', 'gid', 'shell', 'gecos'], 'no blueprint equivalent');
        applied.push(l);
        break;
      }
      case 'sshkey': {
        const name = options.get('username');
        if (typeof name !== 'string' || !positional[0]) {
          notApplied.push({ ...l, reason: 'sshkey needs --username and a key' });
          break;
        }
        sshkeys.push({ user: name, key: positional[0] });
        from(`sshkey:${name}`, l);
        applied.push(l);
        break;
      }
      case 'services': {
        services.enabled.push(...list(options.get('enabled')));
        services.disabled.push(...list(options.get('disabled')));
        from('customizations.services', l);
        partly(['enabled', 'disabled'], 'no blueprint equivalent');
        applied.push(l);
        break;
      }
      case 'firewall': {
        const fw: Record<string, unknown> = {};
        const ports = [...list(options.get('port'))];
        const svc = list(options.get('service'));
        if (ports.length) fw.ports = ports;
        if (svc.length) fw.services = { enabled: svc };
        if (options.has('disabled')) notApplied.push({ ...l, reason: 'turning the firewall off has no blueprint equivalent' });
        if (Object.keys(fw).length) {
          customizations.firewall = fw;
          from('customizations.firewall', l);
          applied.push(l);
        }
        partly(['enabled', 'disabled', 'port', 'service'], 'no blueprint equivalent');
        break;
      }
      case 'selinux': {
        if (options.has('enforcing') && options.size === 1) applied.push(l); // the images' own mode
        else notApplied.push({ ...l, reason: 'SELinux modes other than enforcing have no blueprint equivalent' });
        break;
      }
      case 'network': {
        const host = options.get('hostname');
        if (typeof host === 'string') {
          customizations.hostname = host;
          from('customizations.hostname', l);
        }
        // DHCP on the first link, activated at boot: what NetworkManager does in the images anyway
        const dhcp = (options.get('bootproto') ?? 'dhcp') === 'dhcp' && !/^(no|off|false)$/i.test(String(options.get('onboot') ?? 'on'));
        const left = rest(['hostname', 'bootproto', 'device', 'activate', 'onboot']);
        if (!dhcp || left.length) notApplied.push({ ...l, reason: `network settings other than DHCP have no blueprint equivalent${left.length ? ` (${left.map((k) => `--${k}`).join(', ')})` : ''}` });
        else applied.push(l);
        break;
      }
      case 'bootloader': {
        const append = options.get('append');
        if (typeof append === 'string' && append.trim()) {
          customizations.kernel = { append: append.trim() };
          from('customizations.kernel.append', l);
          applied.push(l);
        }
        // --location, --boot-drive: where the installer writes the boot loader
        partly(['append', 'location', 'boot-drive'], 'no blueprint equivalent (the image type configures its boot loader)');
        break;
      }
      case 'part':
      case 'partition': {
        const mount = positional[0];
        const size = options.get('size');
        if (mount && mount.startsWith('/') && typeof size === 'string' && /^\d+$/.test(size)) {
          filesystems.push({ mountpoint: mount, minsize: `${size} MiB` });
          from(`customizations.filesystem[${filesystems.length - 1}]`, l);
          applied.push(l);
        } else {
          notApplied.push({ ...l, reason: 'a partition without a mount point and --size has no blueprint equivalent (the image type has its own partitions)' });
        }
        // the image type chooses file system types and disks
        const left = rest(['size']);
        if (left.length) notApplied.push({ ...l, reason: `${left.map((k) => `--${k}`).join(', ')}: no blueprint equivalent` });
        break;
      }
      default:
        notApplied.push({ ...l, reason: `${cmd} has no blueprint equivalent` });
    }
  });
  if (section) {
    const open = section as { name: string; start: KickstartLine };
    throw new InvalidInputError(`${field} line ${open.start.line}`, `${open.name} has no %end`);
  }

  // a key for a user the kickstart creates goes on that user (a separate sshkey entry would be replaced by it)
  const keysFor = new Map<string, string[]>();
  for (const k of sshkeys) keysFor.set(k.user, [...(keysFor.get(k.user) ?? []), k.key]);
  for (const [name, keys] of keysFor) {
    const u = users.get(name);
    if (!u) continue;
    u.key = keys.join('\n');
    keysFor.delete(name);
    for (const l of sources.get(`sshkey:${name}`) ?? []) from(`user:${name}.key`, l);
  }
  const userList: Record<string, unknown>[] = [...users.values()];
  if (userList.length) customizations.user = userList;
  const otherKeys = sshkeys.filter((k) => keysFor.has(k.user));
  if (otherKeys.length) customizations.sshkey = otherKeys;
  if (services.enabled.length || services.disabled.length) {
    customizations.services = {
      ...(services.enabled.length ? { enabled: [...new Set(services.enabled)] } : {}),
      ...(services.disabled.length ? { disabled: [...new Set(services.disabled)] } : {}),
    };
  }
  if (filesystems.length) customizations.filesystem = filesystems;
  const draft: Record<string, unknown> = {
    name: 'kickstart',
    ...(packages.length ? { packages } : {}),
    ...(groups.length ? { groups } : {}),
    ...(Object.keys(customizations).length ? { customizations } : {}),
  };
  // what the blueprint checks refuse leaves the blueprint, its lines go to not_applied
  const refused = new Set<number>();
  let blueprint: Blueprint | undefined;
  while (!blueprint) {
    try {
      blueprint = checkBlueprint(draft);
    } catch (err) {
      if (!(err instanceof InvalidInputError)) throw err;
      const lines = dropField(draft, err.field, sources);
      if (!lines.length) throw err;
      for (const l of lines) {
        notApplied.push({ ...l, reason: err.message });
        refused.add(l.line);
      }
    }
  }
  const appliedLines = applied.filter((l, i, all) => !refused.has(l.line) && all.findIndex((x) => x.line === l.line) === i);
  return {
    blueprint: withCryptedPasswords(blueprint),
    applied: appliedLines,
    not_applied: notApplied.sort((a, b) => a.line - b.line),
    ignored,
  };
}

/**
 * Removes the blueprint part a check error names — a package, a group, a user, a key, a file
 * system or one customization — and returns the kickstart lines behind it (none when the error
 * names nothing the translation made).
 */
function dropField(draft: Record<string, unknown>, errorField: string, sources: Map<string, KickstartLine[]>): KickstartLine[] {
  const m = /^blueprint\.(?:(packages|groups|customizations\.(?:user|sshkey|filesystem))\[(\d+)\]|customizations\.([\w-]+))/.exec(errorField);
  if (!m) return [];
  const c = (draft.customizations ?? {}) as Record<string, unknown>;
  if (m[3]) {
    if (!(m[3] in c)) return [];
    delete c[m[3]];
    return [...sources].filter(([k]) => k === `customizations.${m[3]}` || k.startsWith(`customizations.${m[3]}.`)).flatMap(([, v]) => v);
  }
  const [holder, key] = m[1].startsWith('customizations.') ? [c, m[1].slice('customizations.'.length)] : [draft, m[1]];
  const list = holder[key] as Record<string, unknown>[] | undefined;
  const index = Number(m[2]);
  if (!list || index >= list.length) return [];
  const [gone] = list.splice(index, 1);
  if (!list.length) delete holder[key];
  if (key === 'user') return [...sources].filter(([k]) => k === `user:${String(gone.name)}` || k.startsWith(`user:${String(gone.name)}.`)).flatMap(([, v]) => v);
  if (key === 'sshkey') return sources.get(`sshkey:${String(gone.user)}`) ?? [];
  // the entries after it moved up one place: so do their sources
  const lines = sources.get(`${m[1]}[${index}]`) ?? [];
  for (let k = index + 1; sources.has(`${m[1]}[${k}]`); k++) sources.set(`${m[1]}[${k - 1}]`, sources.get(`${m[1]}[${k}]`)!);
  sources.delete(`${m[1]}[${index + list.length}]`);
  return lines;
}
