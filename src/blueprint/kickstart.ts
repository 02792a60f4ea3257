/**
 * A kickstart (what `koji image-build` hands to ImageFactory/Oz) → an image-builder blueprint →
 * Kiln's customizations. osbuild does not run kickstarts: commands and %packages with a
 * blueprint equivalent become blueprint fields; what the blueprint converter cannot apply yet,
 * and everything without an equivalent (%post above all), is reported as not applied, line by
 * line. Installer-only commands (url, repo, reboot, clearpart, …) mean nothing for an image
 * Kiln builds and are reported as ignored: koji image-build itself replaces url and repo lines
 * with the build's install tree and repositories.
 */
import { InvalidInputError } from '../errors.js';
import type { Customizations } from '../generated/customizations.schema.js';
import { convertBlueprint, type Unsupported } from './convert.js';

export interface KickstartLine {
  /** 1-based line number in the (flattened) kickstart */
  line: number;
  text: string;
}

export interface KickstartNote extends KickstartLine {
  reason: string;
}

export interface KickstartTranslation {
  blueprint: Record<string, unknown>;
  customizations: Customizations;
  /** lines that became customizations (or ask for what the images do anyway) */
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
        if (tok.startsWith('@')) notApplied.push({ ...l, reason: `package group or environment ${tok}: package groups are not supported by Kiln yet` });
        else if (tok.startsWith('-')) notApplied.push({ ...l, reason: `excluding ${tok.slice(1)}: package exclusions are not supported by Kiln yet` });
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
        for (const [k] of opts.options) notApplied.push({ ...l, reason: `%packages --${k}: not supported by Kiln yet` });
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
        }
        // --utc/--isUtc: a hardware clock in UTC is what the images assume already
        partly(['utc', 'isutc', 'ntpservers', 'timezone'], 'no blueprint equivalent');
        break;
      }
      case 'lang': {
        if (positional[0]) {
          customizations.locale = { ...(customizations.locale as object), languages: [positional[0], ...list(options.get('addsupport'))] };
          from('customizations.locale', l);
        }
        partly(['addsupport'], 'no blueprint equivalent');
        break;
      }
      case 'keyboard': {
        const map = (options.get('vckeymap') as string | undefined) ?? positional[0];
        if (map) {
          customizations.locale = { ...(customizations.locale as object), keyboard: map };
          from('customizations.locale', l);
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
          if (options.has('iscrypted')) {
            user('root').password = pw;
            from(`user:root.password`, l);
            applied.push(l);
          } else notApplied.push({ ...l, reason: 'a plain-text root password: Kiln takes crypt(3) hashes only (rootpw --iscrypted)' });
          if (options.has('lock')) notApplied.push({ ...l, reason: '--lock with a password: locking accounts is not supported by Kiln yet' });
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
        if (typeof pw === 'string') {
          if (options.has('iscrypted')) u.password = pw;
          else notApplied.push({ ...l, reason: `a plain-text password for ${name}: Kiln takes crypt(3) hashes only (--iscrypted)` });
        }
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
        } else {
          notApplied.push({ ...l, reason: 'a partition without a mount point and --size has no blueprint equivalent (the image type has its own partitions)' });
        }
        const left = rest(['size', 'fstype', 'grow', 'ondisk', 'asprimary']);
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

  // the blueprint, then what the converter cannot apply yet goes to not_applied with its lines
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
  const userList: Record<string, unknown>[] = [];
  for (const u of users.values()) userList.push(u);
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
  const blueprint: Record<string, unknown> = {
    name: 'kickstart',
    ...(packages.length ? { packages } : {}),
    ...(Object.keys(customizations).length ? { customizations } : {}),
  };
  const converted = convertBlueprint(blueprint, 'blueprint');
  const refused = new Set<string>();
  for (const u of converted.unsupported) {
    for (const l of linesOf(u, blueprint, sources)) {
      notApplied.push({ ...l, reason: `${u.field.replace(/^blueprint\./, '')}: ${u.reason}` });
      refused.add(`${l.line}`);
    }
  }
  const appliedLines = applied.filter((l, i, all) => !refused.has(`${l.line}`) && all.findIndex((x) => x.line === l.line) === i);
  return {
    blueprint,
    customizations: converted.customizations,
    applied: appliedLines,
    not_applied: notApplied.sort((a, b) => a.line - b.line),
    ignored,
  };
}

/** The kickstart lines behind a blueprint field the converter refused. */
function linesOf(u: Unsupported, blueprint: Record<string, unknown>, sources: Map<string, KickstartLine[]>): KickstartLine[] {
  const field = u.field.replace(/^blueprint\./, '');
  const userMatch = /^customizations\.user\[(\d+)\](?:\.(\w+))?/.exec(field);
  if (userMatch) {
    const users = ((blueprint.customizations as Record<string, unknown>).user as { name: string }[]) ?? [];
    const name = users[Number(userMatch[1])]?.name;
    const exact = sources.get(`user:${name}.${userMatch[2]}`) ?? sources.get(`user:${name}`);
    return exact ?? [];
  }
  const found: KickstartLine[] = [];
  for (const [key, lines] of sources) if (key === field || key.startsWith(`${field}.`) || key.startsWith(`${field}[`)) found.push(...lines);
  return found;
}
