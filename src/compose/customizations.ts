/**
 * composer's request vocabulary turned into Kiln's: a compose request's `customizations` (as
 * osbuild-composer's GetBlueprintFromCustomizations turns them) or its `blueprint` (as its
 * ConvertRequestBP does) become one checked blueprint plus the build options that are not
 * blueprint fields, and payload repositories for the blueprint's packages. Blueprint paths in
 * errors are mapped back to the request's names by `requestField`.
 *
 * Where Kiln differs from composer (each deliberate): a request blueprint's
 * customizations.partitioning_mode is honoured (composer drops it); files[].ensure_parents adds
 * the file's directory (composer drops it); a `distro` other than the compose's distribution is
 * refused (composer builds that distro instead); package_sets on a payload repository is
 * refused (composer ignores it).
 */
import path from 'node:path';
import { InvalidInputError } from '../errors.js';
import { checkBlueprint, cryptPassword, withCryptedPasswords, type Blueprint, type BlueprintCustomizations } from '../blueprint/index.js';
import { checkRepoInput, type BuildOptions, type RepoInput } from '../osbuild/index.js';
import type { ComposeRequest } from '../generated/compose-request.schema.js';
import type { Customizations } from '../generated/customizations.schema.js';

/** The part of a compose request the build's customizations come from. */
export type CustomizationSource = 'customizations' | 'blueprint';

export interface BuildCustomizations {
  /** Checked, passwords crypted. */
  blueprint: Blueprint;
  options: BuildOptions;
  /** customizations.payload_repositories, for the blueprint's own packages only (package set `blueprint`). */
  payloadRepositories: RepoInput[];
  /** Which part of the request they came from (errors are renamed to its fields); none without customizations. */
  source?: CustomizationSource;
}

type Repository = NonNullable<BlueprintCustomizations['repositories']>[number];
type CustomRepository = NonNullable<Customizations['custom_repositories']>[number];

function customRepository(r: CustomRepository): Repository {
  return {
    id: r.id,
    ...(r.baseurl ? { baseurls: [...r.baseurl] } : {}),
    ...(r.gpgkey ? { gpgkeys: [...r.gpgkey] } : {}),
    ...(r.metalink !== undefined ? { metalink: r.metalink } : {}),
    ...(r.mirrorlist !== undefined ? { mirrorlist: r.mirrorlist } : {}),
    ...(r.name !== undefined ? { name: r.name } : {}),
    ...(r.priority !== undefined ? { priority: r.priority } : {}),
    ...(r.enabled !== undefined ? { enabled: r.enabled } : {}),
    ...(r.check_gpg !== undefined ? { gpgcheck: r.check_gpg } : {}),
    ...(r.check_repo_gpg !== undefined ? { repo_gpgcheck: r.check_repo_gpg } : {}),
    ...(r.ssl_verify !== undefined ? { sslverify: r.ssl_verify } : {}),
    ...(r.module_hotfixes !== undefined ? { module_hotfixes: r.module_hotfixes } : {}),
    ...(r.filename !== undefined ? { filename: r.filename } : {}),
  };
}

type Directories = NonNullable<BlueprintCustomizations['directories']>;

/**
 * The directories of the blueprint: the request's, then the directory of every file that asks
 * for its parents (`ensure_parents`) and is not listed already (nor `/`, nor a listed file).
 */
function directoriesOf(c: Customizations): Directories {
  const out: Directories = (c.directories ?? []).map((d) => ({ ...d }));
  const listed = new Set([...out.map((d) => d.path), ...(c.files ?? []).map((f) => f.path)]);
  for (const f of c.files ?? []) {
    if (!f.ensure_parents) continue;
    const dir = path.posix.dirname(f.path);
    if (dir === '/' || dir === '.' || listed.has(dir)) continue;
    listed.add(dir);
    out.push({ path: dir, ensure_parents: true });
  }
  return out;
}

const nonEmpty = <T>(list: T[] | undefined): list is T[] => Array.isArray(list) && list.length > 0;

/**
 * A compose request's `customizations` as a blueprint, field by field as composer converts them
 * (keys in osbuild/blueprint's order, so the first unsupported one reported is upstream's).
 */
export function blueprintFromCustomizations(c: Customizations): Blueprint {
  const directories = directoriesOf(c);
  const cz: BlueprintCustomizations = {
    ...(c.hostname !== undefined ? { hostname: c.hostname } : {}),
    ...(c.kernel ? { kernel: { ...c.kernel } } : {}),
    ...(nonEmpty(c.users) ? { user: c.users.map((u) => structuredClone(u)) } : {}),
    ...(nonEmpty(c.groups) ? { group: c.groups.map((g) => ({ ...g })) } : {}),
    ...(c.timezone ? { timezone: structuredClone(c.timezone) } : {}),
    ...(c.locale ? { locale: structuredClone(c.locale) } : {}),
    ...(c.firewall ? { firewall: structuredClone(c.firewall) } : {}),
    ...(c.services ? { services: structuredClone(c.services) } : {}),
    ...(nonEmpty(c.filesystem) ? { filesystem: c.filesystem.map((f) => ({ mountpoint: f.mountpoint, minsize: f.min_size })) } : {}),
    // a partition without minsize is refused by the blueprint's schema (osbuild/images requires one)
    ...(c.disk ? { disk: structuredClone(c.disk) as BlueprintCustomizations['disk'] } : {}),
    ...(c.installation_device !== undefined ? { installation_device: c.installation_device } : {}),
    ...(c.fdo ? { fdo: { ...c.fdo } } : {}),
    ...(c.openscap ? { openscap: structuredClone(c.openscap) } : {}),
    ...(c.ignition ? { ignition: structuredClone(c.ignition) } : {}),
    ...(directories.length ? { directories } : {}),
    ...(nonEmpty(c.files) ? { files: c.files.map(({ ensure_parents: _, ...f }) => f) } : {}),
    ...(nonEmpty(c.custom_repositories) ? { repositories: c.custom_repositories.map(customRepository) } : {}),
    ...(c.fips?.enabled ? { fips: true } : {}),
    ...(c.installer ? { installer: structuredClone(c.installer) } : {}),
    ...(c.rpm ? { rpm: structuredClone(c.rpm) } : {}),
    ...(c.rhsm ? { rhsm: structuredClone(c.rhsm) } : {}),
    ...(c.cacerts ? { cacerts: structuredClone(c.cacerts) } : {}),
  };
  return {
    ...(nonEmpty(c.packages) ? { packages: c.packages.map((name) => ({ name })) } : {}),
    ...(nonEmpty(c.enabled_modules) ? { enabled_modules: c.enabled_modules.map((m) => ({ ...m })) } : {}),
    ...(nonEmpty(c.containers)
      ? { containers: c.containers.map(({ tls_verify, ...rest }) => ({ ...rest, ...(tls_verify !== undefined ? { 'tls-verify': tls_verify } : {}) })) }
      : {}),
    ...(Object.keys(cz).length ? { customizations: cz } : {}),
  };
}

/** customizations.payload_repositories as repositories of the image requests' package set `blueprint`. */
function payloadRepositoriesOf(c: Customizations): RepoInput[] {
  return (c.payload_repositories ?? []).map((repo, i) => {
    const field = `customizations.payload_repositories[${i}]`;
    checkRepoInput(repo as RepoInput, field);
    const { package_sets, ...rest } = repo as RepoInput;
    if (package_sets !== undefined) {
      throw new InvalidInputError(`${field}.package_sets`, 'does not apply: payload repositories serve the packages of customizations.packages only (osbuild-composer ignores this field); give repositories for other package sets in the image request');
    }
    return { ...rest, package_sets: ['blueprint'] };
  });
}

/** The build customizations of a request's `customizations` (checked: errors name the request's fields). */
export function fromCustomizations(c: Customizations | undefined): BuildCustomizations {
  if (!c) return { blueprint: {}, options: {}, payloadRepositories: [] };
  const source = 'customizations';
  try {
    const blueprint = withCryptedPasswords(checkBlueprint(blueprintFromCustomizations(c), 'blueprint'));
    const options: BuildOptions = {
      ...(c.partitioning_mode ? { partitioningMode: c.partitioning_mode } : {}),
      ...(c.subscription ? { subscription: structuredClone(c.subscription) } : {}),
    };
    return { blueprint, options, payloadRepositories: payloadRepositoriesOf(c), source };
  } catch (err) {
    throw requestField(err, source);
  }
}

/** The build customizations of a request's `blueprint` (image-builder's vocabulary; checked). */
export function fromRequestBlueprint(bp: NonNullable<ComposeRequest['blueprint']>): BuildCustomizations {
  const blueprint = withCryptedPasswords(checkBlueprint(bp, 'blueprint'));
  const mode = blueprint.customizations?.partitioning_mode;
  return { blueprint, options: mode ? { partitioningMode: mode } : {}, payloadRepositories: [], source: 'blueprint' };
}

/** What a compose request adds to every image: from its `customizations` or its `blueprint` (at most one: checkCustomizationSources). */
export function fromRequest(request: Pick<ComposeRequest, 'customizations' | 'blueprint'>): BuildCustomizations {
  return request.blueprint ? fromRequestBlueprint(request.blueprint) : fromCustomizations(request.customizations);
}

/** osbuild-composer's rule (its ComposeRequest `not`), with a message saying what to do. */
export function checkCustomizationSources(body: unknown): void {
  const b = body as { customizations?: unknown; blueprint?: unknown } | null;
  if (b && typeof b === 'object' && b.customizations !== undefined && b.blueprint !== undefined) {
    throw new InvalidInputError('blueprint', 'give either customizations or blueprint, not both');
  }
}

/**
 * The request with every plain-text password crypted (SHA-512, random salt): what is stored of
 * it, and what the blueprint is made from, so one hash serves both and no clear text is kept.
 */
export function withCryptedRequestPasswords<T extends Pick<ComposeRequest, 'customizations' | 'blueprint'>>(request: T): T {
  const users = request.customizations?.users;
  const bpUsers = request.blueprint?.customizations?.user;
  const crypt = <U extends { password?: string }>(list: U[]) => list.map((u) => (u.password ? { ...u, password: cryptPassword(u.password) } : u));
  return {
    ...request,
    ...(users?.some((u) => u.password) ? { customizations: { ...request.customizations, users: crypt(users) } } : {}),
    ...(bpUsers?.some((u) => u.password) ? { blueprint: { ...request.blueprint, customizations: { ...request.blueprint!.customizations, user: crypt(bpUsers) } } } : {}),
  };
}

/**
 * Blueprint paths (`blueprint.` + the blueprint's own path) → the request's `customizations`
 * fields, where composer spells them differently; the first match wins.
 */
const FROM_CUSTOMIZATIONS: [RegExp, string][] = [
  [/^blueprint\.packages(\[\d+\])?(\.name)?/, 'customizations.packages$1'],
  [/^blueprint\.enabled_modules\b/, 'customizations.enabled_modules'],
  [/^blueprint\.containers(\[\d+\])\.tls-verify\b/, 'customizations.containers$1.tls_verify'],
  [/^blueprint\.containers\b/, 'customizations.containers'],
  [/^blueprint\.customizations\.user\b/, 'customizations.users'],
  [/^blueprint\.customizations\.group\b/, 'customizations.groups'],
  [/^blueprint\.customizations\.repositories(\[\d+\])\.baseurls\b/, 'customizations.custom_repositories$1.baseurl'],
  [/^blueprint\.customizations\.repositories(\[\d+\])\.gpgkeys\b/, 'customizations.custom_repositories$1.gpgkey'],
  [/^blueprint\.customizations\.repositories(\[\d+\])\.gpgcheck\b/, 'customizations.custom_repositories$1.check_gpg'],
  [/^blueprint\.customizations\.repositories(\[\d+\])\.repo_gpgcheck\b/, 'customizations.custom_repositories$1.check_repo_gpg'],
  [/^blueprint\.customizations\.repositories(\[\d+\])\.sslverify\b/, 'customizations.custom_repositories$1.ssl_verify'],
  [/^blueprint\.customizations\.repositories\b/, 'customizations.custom_repositories'],
  [/^blueprint\.customizations\.filesystem(\[\d+\])\.minsize\b/, 'customizations.filesystem$1.min_size'],
  [/^blueprint\.customizations\./, 'customizations.'],
  [/^blueprint(\.customizations)?$/, 'customizations'],
  [/^options\.partitioningMode$/, 'customizations.partitioning_mode'],
];

/** Build options → the request blueprint's fields. */
const FROM_BLUEPRINT: [RegExp, string][] = [[/^options\.partitioningMode$/, 'blueprint.customizations.partitioning_mode']];

function rename(field: string, table: [RegExp, string][]): string | undefined {
  for (const [re, to] of table) if (re.test(field)) return field.replace(re, to);
  return undefined;
}

/**
 * An error about the converted blueprint or the build options, renamed to the request's field
 * (`source`: which part of the request the build's customizations came from). Blueprint paths
 * the message lists (`(nor customizations.user, …)`) are renamed too.
 */
export function requestField(err: unknown, source: CustomizationSource | undefined): unknown {
  if (!(err instanceof InvalidInputError) || !source) return err;
  const table = source === 'blueprint' ? FROM_BLUEPRINT : FROM_CUSTOMIZATIONS;
  const field = rename(err.field, table) ?? err.field;
  const said = err.message.startsWith(`${err.field}: `) ? err.message.slice(err.field.length + 2) : err.message;
  // the other paths are the blueprint's own (without `blueprint.`)
  const message = said.replace(/\(nor ([^)]*)\)/, (_, list: string) => `(nor ${list.split(', ').map((p) => rename(`blueprint.${p}`, table) ?? `blueprint.${p}`).join(', ')})`);
  if (field === err.field && message === said) return err;
  return new InvalidInputError(field, message, { cause: err, ...(err.details ? { details: { ...err.details, field } } : {}) });
}
