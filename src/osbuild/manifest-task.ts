/**
 * Manifest generation as a piscina task: the input is plain data (names, depsolve results,
 * customizations), so it crosses to a worker thread by structured clone and the service's
 * event loop, which also answers the API, is not blocked while hundreds of packages are
 * turned into sources and stages.
 */
import type { DepsolveResult } from '../depsolve/index.js';
import type { Customizations } from '../generated/customizations.schema.js';
import { toKilnError } from '../errors.js';
import { resolveImageType } from './image-types.js';
import { generateManifest, serializeManifest } from './manifest.js';
import { packageSetsFromDepsolve } from './from-depsolve.js';

export interface ManifestTaskInput {
  distribution: string;
  arch: string;
  imageType: string;
  packageSets: Record<string, DepsolveResult>;
  customizations?: Customizations;
}

export type ManifestTaskOutput =
  | { ok: true; manifest: string }
  | { ok: false; error: { code: string; message: string; details?: Record<string, unknown> } };

/**
 * The manifest serialized (byte-identical for the same input), or the error as data: thrown
 * errors reach the calling thread without their code and details.
 */
export default function manifestTask(input: ManifestTaskInput): ManifestTaskOutput {
  try {
    const image = resolveImageType(input.distribution, input.arch, input.imageType);
    const { packages, gpgkeys } = packageSetsFromDepsolve(input.packageSets);
    return { ok: true, manifest: serializeManifest(generateManifest({ image, packages, customizations: input.customizations, gpgkeys })) };
  } catch (err) {
    return { ok: false, error: toKilnError(err).toJSON() };
  }
}
