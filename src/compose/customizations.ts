/**
 * composer's request vocabulary turned into Kiln's: a compose request's `customizations` become
 * a blueprint (as osbuild-composer's GetBlueprintFromCustomizations turns them) plus the build
 * options that are not blueprint fields. Blueprint paths in errors are mapped back to the
 * request's names by `requestField`.
 */
import { InvalidInputError } from '../errors.js';
import { withCryptedPasswords, type Blueprint } from '../blueprint/index.js';
import type { BuildOptions } from '../osbuild/index.js';
import type { ComposeRequest } from '../generated/compose-request.schema.js';

type Customizations = NonNullable<ComposeRequest['customizations']>;

export interface BuildCustomizations {
  blueprint: Blueprint;
  options: BuildOptions;
}

/** The blueprint and options of a compose request's customizations (passwords crypted). */
export function fromCustomizations(c: Customizations | undefined): BuildCustomizations {
  if (!c) return { blueprint: {}, options: {} };
  const customizations: NonNullable<Blueprint['customizations']> = {
    ...(c.hostname !== undefined ? { hostname: c.hostname } : {}),
    ...(c.kernel ? { kernel: { ...c.kernel } } : {}),
    ...(c.timezone ? { timezone: { ...c.timezone } } : {}),
    ...(c.services ? { services: { ...c.services } } : {}),
    ...(c.users?.length ? { user: c.users.map((u) => ({ ...u })) } : {}),
  };
  const blueprint: Blueprint = {
    ...(c.packages?.length ? { packages: c.packages.map((name) => ({ name })) } : {}),
    ...(Object.keys(customizations).length ? { customizations } : {}),
  };
  return { blueprint: withCryptedPasswords(blueprint), options: {} };
}

/** Request field names of blueprint paths that composer spells differently. */
const RENAMES: [RegExp, string][] = [
  [/^blueprint\.packages/, 'customizations.packages'],
  [/^blueprint\.customizations\.user\b/, 'customizations.users'],
  [/^blueprint\.customizations\.group\b/, 'customizations.groups'],
  [/^blueprint\.customizations\./, 'customizations.'],
];

/** An error about the converted blueprint, renamed to the request's field. */
export function requestField(err: unknown): unknown {
  if (!(err instanceof InvalidInputError)) return err;
  const renamed = RENAMES.reduce<string | undefined>((found, [re, to]) => found ?? (re.test(err.field) ? err.field.replace(re, to) : undefined), undefined);
  if (!renamed) return err;
  return new InvalidInputError(renamed, err.message.startsWith(`${err.field}: `) ? err.message.slice(err.field.length + 2) : err.message, { cause: err, ...(err.details ? { details: err.details } : {}) });
}
