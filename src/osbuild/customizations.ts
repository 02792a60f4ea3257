/**
 * A blueprint against one image type: what the type takes (`supported_options`, walked as
 * osbuild/images walks them), what it requires, and the rules that depend on the type or its
 * distro (OpenSCAP profiles and datastream, custom file and directory policies). Errors name the
 * blueprint field; callers that took the values under other names (composer's request) rename it.
 */
import { InvalidInputError } from '../errors.js';
import { checkBlueprint, pathAllowed, type Blueprint } from '../blueprint/index.js';
import type { ResolvedImage } from './definitions/resolve.js';

/** Always allowed (osbuild/images' SupportedBlueprintOptions adds them to every type). */
const IMPLICIT = ['name', 'version', 'description'];

/** Unset in osbuild/images' sense: zero values, empty lists and objects with nothing set. */
function isZero(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === '') return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object') return Object.values(value).every(isZero);
  return false;
}

/**
 * The blueprint paths set (non-zero) that the type does not list: a listed path allows its
 * whole subtree (`customizations.kernel`), a dotted one only that field (`customizations.kernel.name`).
 */
export function unsupportedPaths(bp: Blueprint, supported: readonly string[]): string[] {
  const allowed = new Set([...IMPLICIT, ...supported]);
  const out: string[] = [];
  const walk = (value: unknown, path: string): void => {
    if (allowed.has(path) || isZero(value)) return;
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) walk(v, path ? `${path}.${k}` : k);
      return;
    }
    out.push(path);
  };
  walk(bp, '');
  return out;
}

/** The field name of a blueprint path under `field`: `blueprint.customizations.kernel.append`. */
const at = (field: string, path: string) => (field ? `${field}.${path}` : path);

function checkOpenSCAP(image: ResolvedImage, bp: Blueprint, field: string): void {
  const o = bp.customizations?.openscap;
  if (!o) return;
  const f = at(field, 'customizations.openscap');
  if (image.ostree) throw new InvalidInputError(f, `is not supported by ostree image type ${image.name}`);
  const { distro } = image;
  if (distro.family !== 'fedora' && distro.major === 9 && distro.minor === 0) {
    throw new InvalidInputError(f, `is not supported for distro version ${distro.osVersion}`);
  }
  const profile = o.profile_id ?? '';
  // osbuild/images matches the full id or any suffix of it; Kiln takes the full id or its short name (stig)
  const known = distro.oscapProfiles.some((p) => p === profile || p === `xccdf_org.ssgproject.content_profile_${profile}`);
  if (!known) {
    const names = distro.oscapProfiles.map((p) => p.replace(/^xccdf_org\.ssgproject\.content_profile_/, ''));
    throw new InvalidInputError(`${f}.profile_id`, `unsupported profile ${JSON.stringify(profile)} for ${distro.name} (supported: ${names.join(', ') || 'none'})`);
  }
  if (!o.datastream && !image.imageConfig.default_oscap_datastream) {
    throw new InvalidInputError(`${f}.datastream`, `is required: ${distro.name} has no default OpenSCAP datastream`);
  }
}

function checkNodePolicies(image: ResolvedImage, bp: Blueprint, field: string): void {
  const ostree = image.ostree !== undefined;
  const c = bp.customizations ?? {};
  for (const [kind, list] of [['directory', c.directories], ['file', c.files]] as const) {
    const denied = (list ?? []).map((n) => n.path).filter((p) => !pathAllowed(p, kind, ostree));
    if (denied.length) {
      const key = kind === 'file' ? 'files' : 'directories';
      throw new InvalidInputError(at(field, `customizations.${key}`), `the following custom ${key} are not allowed${ostree ? ' in ostree images' : ''}: ${denied.map((p) => JSON.stringify(p)).join(', ')}`);
    }
  }
}

/**
 * Checks `bp` (already through checkBlueprint, or raw: it is checked again) for this image type
 * and returns it. Throws InvalidInputError naming the first field the type cannot take.
 */
export function checkBlueprintFor(image: ResolvedImage, blueprint: Blueprint, field = 'blueprint'): Blueprint {
  const bp = checkBlueprint(blueprint, field);
  if (image.supportedCustomizations) {
    const unsupported = unsupportedPaths(bp, image.supportedCustomizations);
    if (unsupported.length) throw new InvalidInputError(at(field, unsupported[0]), `is not supported by image type ${image.name}${unsupported.length > 1 ? ` (nor ${unsupported.slice(1).join(', ')})` : ''}`);
  }
  if (bp.distro && bp.distro !== image.distro.name) {
    throw new InvalidInputError(at(field, 'distro'), `${JSON.stringify(bp.distro)} is not the distribution being built (${image.distro.name})`);
  }
  for (const required of image.requiredCustomizations) {
    const value = required.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), bp);
    if (isZero(value)) throw new InvalidInputError(at(field, required), `is required by image type ${image.name}`);
  }
  checkOpenSCAP(image, bp, field);
  checkNodePolicies(image, bp, field);
  return bp;
}
