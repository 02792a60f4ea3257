/**
 * Manifest generation as a piscina task: the input is plain data (names, depsolve results,
 * blueprint, seed), so it crosses to a worker thread by structured clone and the
 * service's event loop, which also answers the API, is not blocked while hundreds of packages
 * are turned into sources and stages.
 */
import type { DepsolveResult } from '../depsolve/index.js';
import type { Blueprint } from '../blueprint/index.js';
import type { BootcInfo, ContainerSpec, FlatpakSpec } from '../containers/index.js';
import { toKilnError } from '../errors.js';
import { imageDefinitionOptions, resolveImage, useImageDefinitions, type LoadOptions } from './definitions/index.js';
import { generateManifest, serializeManifest, type BuildOptions, type ResolvedOstreeCommits } from './manifest.js';
import type { OstreeOptions } from './ostree.js';
import { modulesFromDepsolve, packagesFromDepsolve } from './from-depsolve.js';

export interface ManifestTaskInput {
  distribution: string;
  arch: string;
  imageType: string;
  packageSets: Record<string, DepsolveResult>;
  containers?: ContainerSpec[];
  /** An installer's flatpaks as the depsolve job resolved them. */
  flatpaks?: FlatpakSpec[];
  /** A bootc image's containers as the depsolve job read them. */
  bootc?: BootcInfo;
  blueprint?: Blueprint;
  options?: BuildOptions;
  seed: string;
  size?: number;
  ostree?: OstreeOptions;
  ostreeFromCompose?: boolean;
  ostreeCommits?: ResolvedOstreeCommits;
  /** The calling thread's definitions (a worker thread loads its own catalog). */
  definitions?: LoadOptions;
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
    if (input.definitions && JSON.stringify(input.definitions) !== JSON.stringify(imageDefinitionOptions())) useImageDefinitions(input.definitions);
    // a bootc image's file systems are its container's
    const image = resolveImage(input.distribution, input.arch, input.imageType, undefined, input.bootc ? { defaultFsType: input.bootc.default_fs } : {});
    const manifest = generateManifest({
      image,
      packages: packagesFromDepsolve(input.packageSets),
      modules: modulesFromDepsolve(input.packageSets),
      ...(input.containers ? { containers: input.containers } : {}),
      ...(input.flatpaks ? { flatpaks: input.flatpaks } : {}),
      ...(input.bootc ? { bootc: input.bootc } : {}),
      ...(input.blueprint ? { blueprint: input.blueprint } : {}),
      ...(input.options ? { options: input.options } : {}),
      seed: input.seed,
      ...(input.size !== undefined ? { size: input.size } : {}),
      ...(input.ostree ? { ostree: input.ostree } : {}),
      ...(input.ostreeFromCompose ? { ostreeFromCompose: true } : {}),
      ...(input.ostreeCommits ? { ostreeCommits: input.ostreeCommits } : {}),
    });
    return { ok: true, manifest: serializeManifest(manifest) };
  } catch (err) {
    return { ok: false, error: toKilnError(err).toJSON() };
  }
}
