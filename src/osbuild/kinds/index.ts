/**
 * Image kinds: each turns a resolved definition into the pipelines after the OS tree. Code is
 * per kind, never per image type: what differs between types is data.
 */
import type { Blueprint } from '../../blueprint/index.js';
import { KilnError } from '../../errors.js';
import type { ImageConfig } from '../../generated/image-definitions.schema.js';
import type { ResolvedImage } from '../definitions/resolve.js';
import type { PartitionTable } from '../partitions/model.js';
import type { SeededRandom } from '../partitions/uuids.js';
import type { PipelinePackages, Sources } from '../stages/rpm.js';
import type { Pipeline } from '../stages/stage.js';
import { containerPipelines, tarPipelines } from './archive.js';
import { diskPipelines } from './disk.js';
import { commitPipelines, containerCommitPipelines, ostreeDiskPipelines } from './ostree.js';
import { imageInstallerPipelines, installerPlan, liveInstallerPipelines, networkInstallerPipelines, ostreeInstallerPipelines } from './installer.js';
import { pxePlan, pxeTarPipelines } from './pxe.js';
import { COI_TREE, simplifiedInstallerPipelines, simplifiedInstallerPlan } from './simplified.js';
import type { OsSettings, PackageTransaction } from '../stages/os.js';
import type { OstreeCommit } from '../stages/ostree.js';
import type { FlatpakSpec } from '../../containers/index.js';

export interface KindInput {
  image: ResolvedImage;
  pt?: PartitionTable;
  packages?: PipelinePackages;
  kernelName?: string;
  rng: SeededRandom;
  sources: Sources;
  /** The image config and the blueprint, precedence applied. */
  settings: OsSettings;
  /** The checked blueprint (installers put its users and installer options into the kickstart). */
  blueprint?: Blueprint;
  /** ostree kinds: the ref the tree is committed as (with its parent), or the commit a disk deploys. */
  ostree?: OstreeBuild;
  /** The pipeline holding the tree a disk or container is made of (default `os`). */
  tree?: string;
  /** Boot files come from this commit's tree (ostree disks) instead of the os pipeline. */
  bootFilesCommit?: OstreeCommit;
  /** An ostree installer's flatpaks, resolved (absent while planning). */
  flatpaks?: FlatpakSpec[];
}

export interface OstreeBuild {
  ref: string;
  parent?: OstreeCommit;
  /** The commit a deployment deploys (resolved by the depsolve job). */
  commit?: OstreeCommit;
  /** The remote the deployment keeps (types with use_ostree_remotes: the request's URL). */
  remote?: { url: string; contenturl?: string };
}

type KindBuilder = (input: KindInput) => Pipeline[];

const KINDS: Partial<Record<ResolvedImage['kind'], KindBuilder>> = {
  disk: diskPipelines,
  tar: tarPipelines,
  container: containerPipelines,
  ostree_commit: commitPipelines,
  ostree_container: containerCommitPipelines,
  ostree_disk: ostreeDiskPipelines,
  image_installer: imageInstallerPipelines,
  ostree_installer: ostreeInstallerPipelines,
  network_installer: networkInstallerPipelines,
  live_installer: liveInstallerPipelines,
  pxe_tar: pxeTarPipelines,
  ostree_simplified_installer: simplifiedInstallerPipelines,
};

/** Kinds whose OS tree becomes an ostree commit. */
export function commitsTree(kind: ResolvedImage['kind']): boolean {
  return kind === 'ostree_commit' || kind === 'ostree_container';
}

/** Kinds that deploy a commit instead of building an OS tree from packages. */
export function deploysCommit(kind: ResolvedImage['kind']): boolean {
  return kind === 'ostree_disk' || kind === 'ostree_simplified_installer';
}

/** Kinds whose image is made from a commit pulled by checksum (deployed, or installed by anaconda): the request's ref resolved, or a commit the compose builds. */
export function pullsCommit(kind: ResolvedImage['kind']): boolean {
  return deploysCommit(kind) || kind === 'ostree_installer';
}

/** What a kind needs beyond its output pipelines, known before depsolving. */
export interface KindPlan {
  /** Where the `os` pipeline goes: first after build, before a named pipeline of the kind, or nowhere (installers without an OS payload). */
  os: 'first' | 'none' | { before: string };
  /** Package sets of the kind's own pipelines (pipeline name → transactions). */
  packageChains: Record<string, PackageTransaction[]>;
  /** Build-root packages the kind's pipelines need beyond their stages' tools (boot loaders an ISO copies, lorax templates). */
  buildPackages: string[];
  /** The kind's changes to the os pipeline's image config (the PXE tree's dracut configuration). */
  osConfig?: (config: ImageConfig) => ImageConfig;
}

type KindPlanner = (image: ResolvedImage, blueprint: Blueprint, settings: OsSettings) => KindPlan;

const PLANS: Partial<Record<ResolvedImage['kind'], KindPlanner>> = {
  image_installer: installerPlan,
  ostree_installer: installerPlan,
  network_installer: installerPlan,
  live_installer: installerPlan,
  pxe_tar: pxePlan,
  ostree_simplified_installer: simplifiedInstallerPlan,
};

export function kindPlan(image: ResolvedImage, blueprint: Blueprint, settings: OsSettings): KindPlan {
  return PLANS[image.kind]?.(image, blueprint, settings) ?? { os: 'first', packageChains: {}, buildPackages: [] };
}

export function outputPipelines(input: KindInput): Pipeline[] {
  const builder = KINDS[input.image.kind];
  if (!builder) throw new KilnError('KILN_UNSUPPORTED_IMAGE', `image type ${input.image.name} is of kind ${input.image.kind}, which this Kiln cannot build yet`, { details: { kind: input.image.kind } });
  return builder(input);
}

/** The pipeline whose packages are the image's content (its Koji components): the installer tree when there is no os tree. */
export function contentPipeline(kind: ResolvedImage['kind']): string {
  if (kind === 'ostree_simplified_installer') return COI_TREE; // the commit's packages are not in osbuild's result
  return kind === 'network_installer' || kind === 'live_installer' || kind === 'ostree_installer' ? 'anaconda-tree' : 'os';
}

/**
 * Kinds made from bootable containers (the image request's `bootc`), whose pipelines
 * manifest.ts assembles from the containers the depsolve job read, not from packages:
 * bootable_container (disks, kinds/bootc.ts), bootc_installer and bootc_generic_iso (ISOs,
 * kinds/bootc-installer.ts).
 */
export function isBootcKind(kind: ResolvedImage['kind']): boolean {
  return kind === 'bootable_container' || kind === 'bootc_installer' || kind === 'bootc_generic_iso';
}

/** Whether the kind's OS tree lives in a partitioned disk. */
export function usesPartitionTable(kind: ResolvedImage['kind']): boolean {
  return kind === 'disk' || kind === 'ostree_disk' || kind === 'ostree_simplified_installer' || kind === 'bootable_container';
}
