import type { JobSpec } from '../queue/index.js';
import type { ComposeRequest, ImageRequest } from '../generated/compose-request.schema.js';
import type { Blueprint } from '../blueprint/index.js';
import { kojiFilename, type BuildOptions } from '../osbuild/index.js';
import { fromCustomizations } from './customizations.js';
import type { OstreeOptions } from '../osbuild/ostree.js';
import { BOOTC_DISTRIBUTION, type BootcOptions } from '../containers/index.js';

/** The job types of a compose, in graph order. */
export const JOB_TYPES = { init: 'koji-init', depsolve: 'depsolve', osbuild: 'osbuild', finalize: 'koji-finalize' } as const;

export interface PlannedImageBuild {
  id: string;
  position: number;
  request: ImageRequest;
  /** See ImageBuildArgs.ostree_commit_from. */
  ostreeCommitFrom?: number;
  blueprint?: Blueprint;
  options?: BuildOptions;
}

export interface KojiInitArgs {
  compose_id: string;
  server: string;
  name: string;
  version: string;
  release: string;
  /** the Koji task of the compose, 0 for none (absent in jobs queued before Kiln checked tasks) */
  task_id?: number;
  /** a scratch build: nothing is reserved */
  scratch?: boolean;
}

/** What both the depsolve and the osbuild job of an image need to plan the same manifest. */
export interface ImageBuildArgs {
  compose_id: string;
  image_build_id: string;
  distribution: string;
  arch: string;
  image_type: string;
  /** What the build adds to the type (passwords crypted). */
  blueprint?: Blueprint;
  options?: BuildOptions;
  /** Jobs queued before Kiln stored a blueprint carry the request's customizations. */
  customizations?: ComposeRequest['customizations'];
  /** Decimal int64: the image's UUIDs come from it (the request's, or one drawn per compose). */
  seed: string;
  /** Requested disk size in bytes (the type's default when absent). */
  size?: number;
  /** A bootc image's containers, as the request names them (resolved by the depsolve job). */
  bootc?: BootcOptions;
  /** The image definitions the compose was checked against (catalog fingerprint). */
  definitions: string;
  /** The request's ostree options (ostree image types). */
  ostree?: OstreeOptions;
  /**
   * The position of the compose's image that builds the commit this image is made from (no URL in
   * the request): its depsolve waits for that image's osbuild job and takes the commit from it.
   */
  ostree_commit_from?: number;
}

export interface DepsolveArgs extends ImageBuildArgs {
  repositories: ImageRequest['repositories'];
}

export interface OsbuildArgs extends ImageBuildArgs {
  /** A disk of the compose deploys this image's commit: keep the repository for its job (src/ostree/serve.ts). */
  ostree_serve?: boolean;
  koji: { server: string; directory: string; name: string; version: string; release: string };
  /** the image's Koji file name is N-V-R.<arch><filename_suffix> (default: the image type's extension) */
  filename_suffix?: string;
  upload_options?: ImageRequest['upload_options'];
}

export interface KojiFinalizeArgs {
  compose_id: string;
  server: string;
  name: string;
  version: string;
  release: string;
  task_id: number;
  directory: string;
  start_time: number;
  image_build_ids: string[];
  /** a scratch build: nothing to import or refund, the files stay in `directory` */
  scratch?: boolean;
  /** positions of the images that may fail without failing the build */
  failable?: number[];
  /** the Koji user the build belongs to */
  owner?: string;
}

/**
 * koji-init → depsolve (per image) → osbuild (per image) → koji-finalize, in one batch with
 * explicit dependency order: osbuild gets [koji-init, its depsolve]; koji-finalize gets
 * [koji-init, osbuild 0, osbuild 1, …] and always runs, so a failed or canceled compose is
 * still refunded. Depsolves do not wait for koji-init: they need nothing from it, except a
 * disk deploying a commit the compose builds, whose depsolve waits for that commit's osbuild.
 */
export function composeJobGraph(
  composeId: string,
  request: ComposeRequest,
  images: readonly PlannedImageBuild[],
  kojiDirectory: string,
  startTime: number,
  build: { seed: string; definitions: string },
): JobSpec[] {
  const koji = request.koji;
  const base = { composeId };
  const specs: JobSpec[] = [
    {
      ...base,
      key: 'init',
      type: JOB_TYPES.init,
      args: {
        compose_id: composeId, server: koji.server, name: koji.name, version: koji.version, release: koji.release, task_id: koji.task_id,
        ...(koji.scratch ? { scratch: true } : {}),
      } satisfies KojiInitArgs,
    },
  ];
  const suppliers = new Set(images.flatMap((i) => (i.ostreeCommitFrom !== undefined ? [i.ostreeCommitFrom] : [])));
  for (const image of images) {
    const ir = image.request;
    const common: ImageBuildArgs = {
      compose_id: composeId,
      image_build_id: image.id,
      distribution: request.distribution ?? BOOTC_DISTRIBUTION,
      arch: ir.architecture,
      image_type: ir.image_type,
      ...(image.blueprint && Object.keys(image.blueprint).length ? { blueprint: image.blueprint } : {}),
      ...(image.options && Object.keys(image.options).length ? { options: image.options } : {}),
      seed: build.seed,
      ...(ir.size ? { size: ir.size } : {}),
      ...(ir.bootc ? { bootc: ir.bootc } : {}),
      definitions: build.definitions,
      ...(ir.ostree && Object.keys(ir.ostree).length ? { ostree: ir.ostree } : {}),
      ...(image.ostreeCommitFrom !== undefined ? { ostree_commit_from: image.ostreeCommitFrom } : {}),
    };
    specs.push({
      ...base,
      key: `depsolve-${image.position}`,
      type: JOB_TYPES.depsolve,
      // a disk of a commit the compose builds: resolved once that commit is built
      ...(image.ostreeCommitFrom !== undefined ? { dependencies: [`osbuild-${image.ostreeCommitFrom}`] } : {}),
      args: { ...common, repositories: ir.repositories } satisfies DepsolveArgs,
    });
    specs.push({
      ...base,
      key: `osbuild-${image.position}`,
      type: JOB_TYPES.osbuild,
      // osbuild runs on a host of the image's architecture
      arch: ir.architecture,
      dependencies: ['init', `depsolve-${image.position}`],
      args: {
        ...common,
        koji: { server: koji.server, directory: kojiDirectory, name: koji.name, version: koji.version, release: koji.release },
        ...(ir.upload_options ? { upload_options: ir.upload_options } : {}),
        ...(ir.filename_suffix ? { filename_suffix: ir.filename_suffix } : {}),
        ...(suppliers.has(image.position) ? { ostree_serve: true } : {}),
      } satisfies OsbuildArgs,
    });
  }
  specs.push({
    ...base,
    key: 'finalize',
    type: JOB_TYPES.finalize,
    alwaysRun: true,
    dependencies: ['init', ...images.map((i) => `osbuild-${i.position}`)],
    args: {
      compose_id: composeId,
      server: koji.server,
      name: koji.name,
      version: koji.version,
      release: koji.release,
      task_id: koji.task_id,
      directory: kojiDirectory,
      start_time: startTime,
      image_build_ids: images.map((i) => i.id),
      ...(koji.scratch ? { scratch: true } : {}),
      ...(images.some((i) => i.request.failable) ? { failable: images.filter((i) => i.request.failable).map((i) => i.position) } : {}),
      ...(koji.owner ? { owner: koji.owner } : {}),
    } satisfies KojiFinalizeArgs,
  });
  return specs;
}

/** The blueprint and options of an image build (converted from the request's customizations for jobs queued before Kiln stored them). */
export function buildInputOf(args: ImageBuildArgs): { blueprint?: Blueprint; options?: BuildOptions } {
  if (args.blueprint || args.options || !args.customizations) {
    return { ...(args.blueprint ? { blueprint: args.blueprint } : {}), ...(args.options ? { options: args.options } : {}) };
  }
  const { blueprint, options } = fromCustomizations(args.customizations);
  return { blueprint, options };
}

/** The seed of an image build (jobs queued before Kiln stored one use the image build id). */
export function seedOf(args: ImageBuildArgs): string {
  return args.seed ?? args.image_build_id;
}

/** An image's Koji file name: N-V-R.<arch> and the type's extension, or the requested suffix in its place. */
export function imageFileName(nvr: { name: string; version: string; release: string }, image: { arch: string; filename: string }, suffix?: string): string {
  return kojiFilename(nvr, suffix ? { arch: image.arch, filename: `image${suffix}` } : image);
}
