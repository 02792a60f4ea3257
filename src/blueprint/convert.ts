/**
 * image-builder blueprints (osbuild/blueprint's vocabulary, TOML or JSON: the key names are the
 * same) → Kiln's customizations (schemas/customizations.schema.json). What maps is converted;
 * what Kiln cannot apply yet is collected as `unsupported` with its field, so a caller can
 * refuse it naming the field (the compose API, the Koji hub plugin) or report it as not
 * applied (the kickstart translation). This is the one place to extend when Kiln learns more
 * customizations: add the field to KNOWN with a converter instead of a reason.
 */
import { parse as parseToml } from 'smol-toml';
import { InvalidInputError } from '../errors.js';
import { validate } from '../schemas.js';
import type { Customizations } from '../generated/customizations.schema.js';

export interface Unsupported {
  /** dotted path, e.g. blueprint.customizations.firewall */
  field: string;
  reason: string;
}

export interface ConvertedBlueprint {
  customizations: Customizations;
  /** the blueprint's `distro`, when it names one */
  distro?: string;
  unsupported: Unsupported[];
}

type Json = Record<string, unknown>;

const isMap = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** crypt(3) hashes Kiln's users stage takes (customizations.schema: $6$, $5$, $y$, $2b$). */
export const isPasswordHash = (p: string): boolean => /^\$(6|5|y|2b)\$/.test(p);

/** An empty value (absent, "", [], {}, false) asks for nothing: accepted whatever the field. */
const isEmpty = (v: unknown): boolean =>
  v === undefined || v === null || v === '' || v === false || (Array.isArray(v) && v.length === 0) || (isMap(v) && Object.keys(v).length === 0);

function expect(kind: 'string' | 'array' | 'object' | 'boolean', v: unknown, field: string): void {
  const ok = kind === 'array' ? Array.isArray(v) : kind === 'object' ? isMap(v) : typeof v === kind;
  if (!ok) throw new InvalidInputError(field, `must be ${kind === 'array' || kind === 'object' ? 'an' : 'a'} ${kind}, not ${JSON.stringify(v)?.slice(0, 60)}`);
}

const stringList = (v: unknown, field: string): string[] => {
  expect('array', v, field);
  return (v as unknown[]).map((s, i) => {
    expect('string', s, `${field}[${i}]`);
    return s as string;
  });
};

/** The reason for a field Kiln knows of but cannot apply yet. */
const notYet = (what: string) => `${what} ${/s$/.test(what) ? 'are' : 'is'} not supported by Kiln yet`;

/** Top-level blueprint fields: metadata Kiln accepts (and ignores), or why a field is not applied. */
const TOP: Record<string, 'metadata' | 'converted' | string> = {
  name: 'metadata',
  description: 'metadata',
  version: 'metadata',
  distro: 'converted',
  packages: 'converted',
  modules: 'converted',
  customizations: 'converted',
  groups: notYet('package groups'),
  enabled_modules: notYet('module streams'),
  containers: notYet('embedded containers'),
  architecture: 'the architecture comes from the image request, not the blueprint',
  minimal: notYet('minimal installs'),
};

/** customizations.<key>: converted here, or why not. */
const CUSTOMIZATIONS: Record<string, 'converted' | string> = {
  hostname: 'converted',
  kernel: 'converted',
  sshkey: 'converted',
  user: 'converted',
  timezone: 'converted',
  services: 'converted',
  fips: 'converted',
  group: notYet('user groups'),
  locale: notYet('locale and keyboard settings'),
  firewall: notYet('firewall settings'),
  filesystem: notYet('file system sizes'),
  disk: notYet('disk layouts'),
  installation_device: notYet('installation devices'),
  partitioning_mode: notYet('partitioning modes'),
  fdo: notYet('FDO settings'),
  openscap: notYet('OpenSCAP profiles'),
  ignition: notYet('Ignition configs'),
  directories: notYet('directories'),
  files: notYet('files'),
  repositories: notYet('repository files'),
  installer: notYet('installer settings'),
  rpm: notYet('RPM key imports'),
  rhsm: notYet('RHSM settings'),
  cacerts: notYet('CA certificates'),
  'containers-storage': notYet('container storage settings'),
  firstboot: notYet('first-boot scripts'),
  dnf: notYet('dnf settings'),
  iso: notYet('ISO labels'),
  sshd: notYet('sshd settings'),
};

type User = NonNullable<Customizations['users']>[number];

/** Converts a blueprint; throws InvalidInputError for malformed values, collects what Kiln cannot apply. */
export function convertBlueprint(blueprint: unknown, field = 'blueprint'): ConvertedBlueprint {
  expect('object', blueprint, field);
  const bp = blueprint as Json;
  const unsupported: Unsupported[] = [];
  const out: Customizations = {};
  let distro: string | undefined;
  for (const [key, value] of Object.entries(bp)) {
    const f = `${field}.${key}`;
    const rule = Object.prototype.hasOwnProperty.call(TOP, key) ? TOP[key] : undefined;
    if (rule === undefined) throw new InvalidInputError(f, 'is not a blueprint field');
    if (rule === 'metadata') {
      if (value !== undefined && typeof value !== 'string') expect('string', value, f);
    } else if (rule !== 'converted') {
      if (!isEmpty(value)) unsupported.push({ field: f, reason: rule });
    }
  }
  if (!isEmpty(bp.distro)) {
    expect('string', bp.distro, `${field}.distro`);
    distro = bp.distro as string;
  }
  const packages: string[] = [];
  for (const key of ['packages', 'modules'] as const) {
    if (isEmpty(bp[key])) continue;
    expect('array', bp[key], `${field}.${key}`);
    (bp[key] as unknown[]).forEach((p, i) => {
      const f = `${field}.${key}[${i}]`;
      expect('object', p, f);
      const { name, version, ...rest } = p as Json;
      for (const k of Object.keys(rest)) throw new InvalidInputError(`${f}.${k}`, 'is not a package field (name, version)');
      if (typeof name !== 'string' || !name) throw new InvalidInputError(`${f}.name`, 'is required (a package name)');
      if (version !== undefined) expect('string', version, `${f}.version`);
      // Package.ToNameVersion: name-version, or the name alone for "" and "*"
      packages.push(version && version !== '*' ? `${name}-${version as string}` : name);
    });
  }
  if (packages.length) out.packages = packages;

  if (!isEmpty(bp.customizations)) {
    const cf = `${field}.customizations`;
    expect('object', bp.customizations, cf);
    const c = bp.customizations as Json;
    for (const [key, value] of Object.entries(c)) {
      const rule = Object.prototype.hasOwnProperty.call(CUSTOMIZATIONS, key) ? CUSTOMIZATIONS[key] : undefined;
      if (rule === undefined) throw new InvalidInputError(`${cf}.${key}`, 'is not a blueprint customization');
      if (rule !== 'converted' && !isEmpty(value)) unsupported.push({ field: `${cf}.${key}`, reason: rule });
    }
    convertCustomizations(c, cf, out, unsupported);
  }
  try {
    return { customizations: validate<Customizations>('customizations.schema', out), ...(distro ? { distro } : {}), unsupported };
  } catch (err) {
    if (!(err instanceof InvalidInputError)) throw err;
    // customizations' names back to the blueprint's: users[0].name → customizations.user[0].name
    const where = err.field === '(body)' ? '' : err.field;
    const blueprintField = where.startsWith('packages')
      ? `${field}.packages`
      : `${field}.customizations${where ? `.${where.replace(/^users/, 'user')}` : ''}`;
    throw new InvalidInputError(blueprintField, err.message.slice(err.field.length + 2), { cause: err });
  }
}

function convertCustomizations(c: Json, cf: string, out: Customizations, unsupported: Unsupported[]): void {
  if (!isEmpty(c.hostname)) {
    expect('string', c.hostname, `${cf}.hostname`);
    out.hostname = c.hostname as string;
  }
  if (!isEmpty(c.kernel)) {
    expect('object', c.kernel, `${cf}.kernel`);
    const { append, name, ...rest } = c.kernel as Json;
    for (const k of Object.keys(rest)) throw new InvalidInputError(`${cf}.kernel.${k}`, 'is not a kernel field (name, append)');
    if (!isEmpty(name)) unsupported.push({ field: `${cf}.kernel.name`, reason: notYet('other kernel packages') });
    if (!isEmpty(append)) {
      expect('string', append, `${cf}.kernel.append`);
      out.kernel = { append: append as string };
    }
  }
  // sshkey entries become users, and a later user entry of the same name replaces one (GetUsers)
  const users = new Map<string, User>();
  if (!isEmpty(c.sshkey)) {
    expect('array', c.sshkey, `${cf}.sshkey`);
    (c.sshkey as unknown[]).forEach((k, i) => {
      const f = `${cf}.sshkey[${i}]`;
      expect('object', k, f);
      const { user, key, ...rest } = k as Json;
      for (const x of Object.keys(rest)) throw new InvalidInputError(`${f}.${x}`, 'is not an sshkey field (user, key)');
      expect('string', user, `${f}.user`);
      expect('string', key, `${f}.key`);
      users.set(user as string, { name: user as string, key: key as string });
    });
  }
  if (!isEmpty(c.user)) {
    expect('array', c.user, `${cf}.user`);
    (c.user as unknown[]).forEach((u, i) => {
      const f = `${cf}.user[${i}]`;
      expect('object', u, f);
      const { name, password, key, groups, ...rest } = u as Json;
      expect('string', name, `${f}.name`);
      const user: User = { name: name as string };
      if (!isEmpty(password)) {
        expect('string', password, `${f}.password`);
        if (isPasswordHash(password as string)) user.password = password as string;
        else unsupported.push({ field: `${f}.password`, reason: 'is a plain-text password; Kiln takes crypt(3) hashes ($6$, $5$, $y$, $2b$) only' });
      }
      if (!isEmpty(key)) {
        expect('string', key, `${f}.key`);
        user.key = key as string;
      }
      if (!isEmpty(groups)) user.groups = stringList(groups, `${f}.groups`);
      const known = ['description', 'home', 'shell', 'uid', 'gid', 'expiredate', 'force_password_reset'];
      for (const [k, v] of Object.entries(rest)) {
        if (!known.includes(k)) throw new InvalidInputError(`${f}.${k}`, 'is not a user field');
        if (!isEmpty(v)) unsupported.push({ field: `${f}.${k}`, reason: notYet(`user ${k === 'description' ? 'descriptions' : `${k} settings`}`) });
      }
      users.set(user.name, user);
    });
  }
  if (users.size) out.users = [...users.values()];
  if (!isEmpty(c.timezone)) {
    expect('object', c.timezone, `${cf}.timezone`);
    const { timezone, ntpservers, ...rest } = c.timezone as Json;
    for (const k of Object.keys(rest)) throw new InvalidInputError(`${cf}.timezone.${k}`, 'is not a timezone field (timezone, ntpservers)');
    if (!isEmpty(ntpservers)) unsupported.push({ field: `${cf}.timezone.ntpservers`, reason: notYet('NTP servers') });
    if (!isEmpty(timezone)) {
      expect('string', timezone, `${cf}.timezone.timezone`);
      out.timezone = { timezone: timezone as string };
    }
  }
  if (!isEmpty(c.services)) {
    expect('object', c.services, `${cf}.services`);
    const { enabled, disabled, masked, ...rest } = c.services as Json;
    for (const k of Object.keys(rest)) throw new InvalidInputError(`${cf}.services.${k}`, 'is not a services field (enabled, disabled, masked)');
    if (!isEmpty(masked)) unsupported.push({ field: `${cf}.services.masked`, reason: notYet('masked services') });
    const services: NonNullable<Customizations['services']> = {};
    if (!isEmpty(enabled)) services.enabled = stringList(enabled, `${cf}.services.enabled`);
    if (!isEmpty(disabled)) services.disabled = stringList(disabled, `${cf}.services.disabled`);
    if (Object.keys(services).length) out.services = services;
  }
  // fips = false is what every image is
  if (c.fips !== undefined && c.fips !== false) {
    expect('boolean', c.fips, `${cf}.fips`);
    unsupported.push({ field: `${cf}.fips`, reason: notYet('FIPS mode') });
  }
}

/** Refuses a blueprint with anything Kiln cannot apply, naming the first field (all of them in the details). */
export function blueprintCustomizations(blueprint: unknown, field = 'blueprint'): { customizations: Customizations; distro?: string } {
  const { unsupported, ...converted } = convertBlueprint(blueprint, field);
  if (unsupported.length) {
    const [first] = unsupported;
    throw new InvalidInputError(first.field, first.reason, { details: { unsupported } });
  }
  return converted;
}

/** A blueprint file's text: JSON when it starts with `{` (image-builder's --blueprint *.json), TOML otherwise. */
export function parseBlueprintText(text: string, name = 'blueprint'): Json {
  const trimmed = text.replace(/^\uFEFF/, '').trimStart();
  let value: unknown;
  try {
    value = trimmed.startsWith('{') ? JSON.parse(trimmed) : parseToml(text);
  } catch (err) {
    throw new InvalidInputError(name, `is neither a JSON nor a TOML blueprint: ${(err as Error).message.split('\n')[0]}`);
  }
  // image-builder also takes the legacy wrapper {"blueprint": {...}}
  if (isMap(value) && Object.keys(value).length === 1 && isMap(value.blueprint)) value = value.blueprint;
  if (!isMap(value)) throw new InvalidInputError(name, 'must hold one blueprint (a table / an object)');
  return value;
}
