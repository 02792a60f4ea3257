/**
 * One image's osbuild manifest: the build root, the OS tree and the kind's output pipelines,
 * from a resolved definition, the build's blueprint and options, a seed and (once depsolved) the
 * packages. The same function plans (no packages: which package sets to depsolve, the build
 * root derived from the stages it will emit) and builds, so the two cannot disagree.
 * Deterministic: the same input gives a byte-identical manifest.
 */
import type { Blueprint } from '../blueprint/index.js';
import type { BootcInfo } from '../containers/bootc.js';
import { flatpakCount, type ContainerSpec, type FlatpakSpec } from '../containers/index.js';
import { InvalidInputError, KilnError } from '../errors.js';
import { checkBlueprintFor } from './customizations.js';
import type { ResolvedImage } from './definitions/resolve.js';
import { commitsTree, deploysCommit, kindPlan, outputPipelines, usesPartitionTable, type OstreeBuild } from './kinds/index.js';
import { ostreePlan, type OstreeOptions } from './ostree.js';
import { addOstreeSource, type OstreeCommit } from './stages/ostree.js';
import { bootcPipelines, checkBootcMountpoints } from './kinds/bootc.js';
import { bootcGenericIsoPipelines, bootcInstallerPipelines, checkBootcInstaller } from './kinds/bootc-installer.js';
import { bootModeOf, customizePartitionTable, type PartitionCustomization, type PartitioningCustomization } from './partitions/customize.js';
import { parseSize } from './definitions/sizes.js';
import { tableTools, type PartitionTable } from './partitions/model.js';
import { assignIds, SeededRandom } from './partitions/uuids.js';
import type { ImageModule } from './stages/modules.js';
import { osPackageChain, osSettings, osStages, type PackageTransaction } from './stages/os.js';
import { checkTransactions, hasPackage, rpmStages, Sources, type PipelinePackages } from './stages/rpm.js';
import { stage, stageTools, type Pipeline, type Stage } from './stages/stage.js';
import { checkSubscription, type Subscription } from './stages/subscription.js';

export type { Pipeline as ManifestPipeline, Stage as ManifestStage } from './stages/stage.js';
export type { PackageTransaction } from './stages/os.js';

export interface Manifest {
  version: '2';
  pipelines: Pipeline[];
  sources: Record<string, unknown>;
}

/** What a build asks beyond the blueprint (composer's image options). */
export interface BuildOptions {
  /**
   * How filesystem customizations change the base table: composer's request-level
   * customizations.partitioning_mode (a blueprint's own customizations.partitioning_mode is
   * used when this is absent; composer drops that one).
   */
  partitioningMode?: 'raw' | 'lvm' | 'auto-lvm';
  /** Register the image on first boot (composer's customizations.subscription, its field names). */
  subscription?: Subscription;
}

/** The build options against the image type (errors name `options.<key>`; compose requests rename them). */
export function checkBuildOptions(image: ResolvedImage, options: BuildOptions = {}): void {
  const mode = options.partitioningMode;
  // auto-lvm is every type's default; another mode asks for a partition table the type does not have
  if (mode && mode !== 'auto-lvm' && !(usesPartitionTable(image.kind) && image.partitionTable)) {
    throw new InvalidInputError('options.partitioningMode', `${mode} has no effect: image type ${image.name} has no partition table (it is a ${image.kind} image)`);
  }
}

export interface ImageBuildInput {
  image: ResolvedImage;
  /** What the build adds to the type: checked, passwords crypted (src/blueprint). */
  blueprint?: Blueprint;
  options?: BuildOptions;
  /** Makes UUIDs (and other random identifiers) reproducible. */
  seed: string | number | bigint;
  /** Requested disk size in bytes; the type's default_size when absent. */
  size?: number;
  /** The request's ostree options (ostree types). */
  ostree?: OstreeOptions;
  /** The compose builds the commit this disk or installer is made from (it needs no ostree URL then). */
  ostreeFromCompose?: boolean;
  /** A bootc image's containers as the depsolve job resolved and read them (bootable_container and bootc_installer kinds). */
  bootc?: BootcInfo;
}

export interface ManifestInput extends ImageBuildInput {
  packages: PipelinePackages;
  /** Module streams of the os pipeline's depsolve (modulesFromDepsolve), written into the image. */
  modules?: ImageModule[];
  /** The blueprint's containers as the depsolve job resolved them (pinned by digest). */
  containers?: ContainerSpec[];
  /** An ostree installer's flatpaks as the depsolve job resolved them (installer_config.flatpaks, in order). */
  flatpaks?: FlatpakSpec[];
  /** The ostree commits the depsolve job resolved: the one a disk deploys, a new commit's parent. */
  ostreeCommits?: ResolvedOstreeCommits;
}

export interface ResolvedOstreeCommits {
  payload?: OstreeCommit;
  parent?: OstreeCommit;
}

/** What to depsolve: pipeline name → its chain of transactions. */
export type PackageRequests = Record<string, PackageTransaction[]>;

/** A blueprint size (bytes, or a number with a unit) in bytes; checkBlueprint refused what does not parse. */
const bytes = (v: number | string): number => parseSize(v)!;

/** The blueprint's partitioning in the partition module's terms (sizes in bytes). */
function partitioningOf(bp: Blueprint, options: BuildOptions): PartitioningCustomization {
  const c = bp.customizations ?? {};
  const d = c.disk;
  return {
    ...(c.filesystem?.length ? { filesystem: c.filesystem.map((f) => ({ mountpoint: f.mountpoint, minsize: bytes(f.minsize) })) } : {}),
    // composer's request-level mode, else the blueprint's own (composer drops that one: DIFFERENCES.yaml)
    ...((options.partitioningMode ?? c.partitioning_mode) !== undefined ? { partitioning_mode: (options.partitioningMode ?? c.partitioning_mode)! } : {}),
    ...(d
      ? {
          disk: {
            ...(d.type ? { type: d.type as 'gpt' | 'dos' } : {}),
            ...(d.minsize !== undefined ? { minsize: bytes(d.minsize) } : {}),
            ...(d.start_offset !== undefined ? { start_offset: bytes(d.start_offset) } : {}),
            ...(d.sector_size !== undefined ? { sector_size: d.sector_size } : {}),
            ...(d.partitions
              ? {
                  partitions: d.partitions.map((p) => ({
                    ...p,
                    minsize: bytes(p.minsize),
                    ...(p.logical_volumes ? { logical_volumes: p.logical_volumes.map((lv) => ({ ...lv, minsize: bytes(lv.minsize) })) } : {}),
                  })) as PartitionCustomization[],
                }
              : {}),
          },
        }
      : {}),
  };
}

/** The disk's table for this build: the blueprint's partitioning applied, laid out, identifiers assigned. */
function tableFor(image: ResolvedImage, bp: Blueprint, options: BuildOptions, size: number | undefined, rng: SeededRandom): PartitionTable | undefined {
  if (!usesPartitionTable(image.kind) || !image.partitionTable) return undefined;
  const pt = customizePartitionTable(image.partitionTable, partitioningOf(bp, options), {
    arch: image.arch,
    bootMode: bootModeOf(image.platform),
    defaultFsType: image.distro.defaultFsType,
    requiredDirectorySizes: image.requiredDirectorySizes,
    ...(image.partitioningModes ? { supportedPartitioningModes: image.partitioningModes } : {}),
    imageType: image.name,
    // 0 or no size: the type's default (composer sends 0 when the request has none)
    size: size ?? 0,
    defaultSize: image.defaultSize ?? 0,
    fieldPrefix: 'blueprint.customizations',
  });
  assignIds(pt, rng);
  return pt;
}

interface Assembled {
  pipelines: Pipeline[];
  requests: PackageRequests;
  sources: Sources;
}

/**
 * A bootc image installs no packages: nothing to depsolve; its pipelines need the container's
 * own information (none yet while planning).
 */
function assembleBootc(input: ImageBuildInput, blueprint: Blueprint): Assembled {
  const sources = new Sources();
  checkBootcMountpoints(blueprint);
  if (!input.bootc) return { pipelines: [], requests: {}, sources };
  const { bootc } = input;
  const image: ResolvedImage = { ...input.image, platform: { ...input.image.platform, ...(bootc.uefi_vendor ? { uefiVendor: bootc.uefi_vendor } : {}) } };
  if (image.distro.defaultFsType !== bootc.default_fs) throw new KilnError('KILN_MANIFEST', `image type ${image.name} was resolved for ${image.distro.defaultFsType}, the container's root file system is ${bootc.default_fs}`, {});
  // upstream: twice the container's size for / (room for an update), btrfs partitioning when that is the root file system
  const rootMin = Math.max(image.requiredDirectorySizes['/'] ?? 0, 2 * bootc.size);
  const sized: ResolvedImage = { ...image, requiredDirectorySizes: { ...image.requiredDirectorySizes, '/': rootMin } };
  const mode = (bootc.default_fs === 'btrfs' ? 'btrfs' : 'raw') as BuildOptions['partitioningMode'];
  const pt = tableFor(sized, blueprint, { ...input.options, partitioningMode: mode }, input.size, new SeededRandom(input.seed))!;
  // upstream enables fs-verity on an ext4 root (composefs)
  const root = pt.partitions.map((p) => p.payload).find((p) => p?.kind === 'filesystem' && p.mountpoint === '/');
  if (root?.kind === 'filesystem' && root.type === 'ext4') root.verity = true;
  return { pipelines: bootcPipelines({ image, pt, bootc, blueprint, seed: input.seed, sources }), requests: {}, sources };
}

/** bootc ISOs install no packages either: the blueprint is checked while planning, the pipelines need the containers. */
function assembleBootcInstaller(input: ImageBuildInput, blueprint: Blueprint): Assembled {
  const sources = new Sources();
  if (input.image.kind === 'bootc_installer') checkBootcInstaller(input.image, blueprint);
  if (!input.bootc) return { pipelines: [], requests: {}, sources };
  const pipelines = (input.image.kind === 'bootc_installer' ? bootcInstallerPipelines : bootcGenericIsoPipelines)({ image: input.image, bootc: input.bootc, blueprint, seed: input.seed, rng: new SeededRandom(input.seed), sources });
  return { pipelines, requests: {}, sources };
}

/** Stands for the commit a disk deploys while planning (before the depsolve job resolved it). */
const UNRESOLVED = '0'.repeat(64);

/** The ostree part of the build: the plan from the request, with the resolved commits once there. */
function ostreeBuild(input: ImageBuildInput, resolved: ResolvedOstreeCommits | undefined, planning: boolean): OstreeBuild | undefined {
  const plan = ostreePlan(input.image, input.ostree, 'ostree', input.ostreeFromCompose ?? false);
  if (!plan) return undefined;
  if (commitsTree(input.image.kind)) {
    if (plan.parent && !planning && !resolved?.parent) throw new KilnError('KILN_MANIFEST', `the depsolve result has no resolved parent commit (${plan.parent.ref} at ${plan.parent.url})`, {});
    return { ref: plan.ref, ...(resolved?.parent ? { parent: resolved.parent } : {}) };
  }
  const commit = resolved?.payload ?? (planning ? { url: plan.payload?.url ?? 'file:///unresolved', ref: plan.ref, checksum: UNRESOLVED } : undefined);
  if (!commit) throw new KilnError('KILN_MANIFEST', `the depsolve result has no resolved commit of ${plan.ref} to deploy`, {});
  return { ref: plan.ref, commit, ...(plan.remote ? { remote: plan.remote } : {}) };
}

function assemble(input: ImageBuildInput, packages: PipelinePackages | undefined, modules: ImageModule[] = [], containers?: ContainerSpec[], ostreeCommits?: ResolvedOstreeCommits, flatpaks?: FlatpakSpec[]): Assembled {
  const { image } = input;
  const blueprint = checkBlueprintFor(image, input.blueprint ?? {});
  checkBuildOptions(image, input.options);
  if (image.kind === 'bootable_container') return assembleBootc(input, blueprint);
  if (image.kind === 'bootc_installer' || image.kind === 'bootc_generic_iso') return assembleBootcInstaller(input, blueprint);
  const subscription = input.options?.subscription ? checkSubscription(input.options.subscription) : undefined;
  const rng = new SeededRandom(input.seed);
  const pt = tableFor(image, blueprint, input.options ?? {}, input.size, rng);
  const sources = new Sources();
  const settings = osSettings(image, blueprint, input.seed, subscription);
  const ostree = ostreeBuild(input, ostreeCommits, !packages);
  if (ostree?.commit && ostree.commit.checksum !== UNRESOLVED) addOstreeSource(sources, ostree.commit);
  const plan = kindPlan(image, blueprint, settings);
  if (plan.osConfig) settings.config = plan.osConfig(settings.config);
  // a deployment's tree is its commit's, and installers without an OS payload have none: no os pipeline, nothing to depsolve for it
  const withOs = !deploysCommit(image.kind) && plan.os !== 'none';
  const requests: PackageRequests = {};
  let os: Pipeline | undefined;
  if (withOs) {
    requests.os = osPackageChain(image, settings, pt);
    const osInput = { image, ...(pt ? { pt } : {}), ...(packages ? { packages: packages.os } : {}), modules, ...(containers ? { containers } : {}), sources };
    os = { name: 'os', build: 'name:build', stages: osStages(commitsTree(image.kind) ? { ...osInput, ostree: { ref: ostree!.ref, ...(ostree!.parent ? { parent: ostree!.parent } : {}) } } : osInput, settings) };
  }
  if (image.kind === 'ostree_container') {
    const extra = image.packageSets.container ?? { include: [], exclude: [] };
    requests['container-tree'] = [{ include: [...extra.include].sort(), exclude: [...extra.exclude], install_weak_deps: true }];
  }
  Object.assign(requests, plan.packageChains);
  const outputs = outputPipelines({
    image,
    ...(pt ? { pt } : {}),
    ...(packages ? { packages } : {}),
    ...(settings.kernelName ? { kernelName: settings.kernelName } : {}),
    rng,
    blueprint,
    sources,
    settings,
    ...(ostree ? { ostree } : {}),
    ...(flatpaks ? { flatpaks } : {}),
  });
  // the kind says where the os tree goes among its pipelines (upstream's creation order)
  const payload: Pipeline[] = [...outputs];
  if (os) {
    const before = typeof plan.os === 'object' ? payload.findIndex((p) => p.name === (plan.os as { before: string }).before) : 0;
    payload.splice(before < 0 ? payload.length : before, 0, os);
  }

  // the build root: the runner's packages, what every stage run in it needs, the platform's tools, the kind's
  const needed = new Set<string>(['selinux-policy-targeted', 'coreutils', 'xz', ...image.distro.runnerBuildPackages, ...image.platform.buildPackages, ...(pt ? tableTools(pt) : []), ...plan.buildPackages]);
  for (const p of payload) for (const s of p.stages) for (const tool of stageTools(s.type, image.distro)) needed.add(tool);
  const buildChain: PackageTransaction[] = [{ include: [...needed].sort(), exclude: [], install_weak_deps: true }];

  const buildRpmOptions: Record<string, unknown> = image.distro.ignoreBuildKeyImportFailures ? { rpmkeys: { ignore_import_failures: true } } : {};
  const labels: Record<string, string> = {};
  if (!packages || hasPackage(packages.build, 'coreutils')) labels['/usr/bin/cp'] = 'system_u:object_r:install_exec_t:s0';
  if (!packages || hasPackage(packages.build, 'tar')) labels['/usr/bin/tar'] = 'system_u:object_r:install_exec_t:s0';
  const buildStages: Stage[] = [
    ...rpmStages(packages?.build, buildRpmOptions, sources),
    stage('org.osbuild.selinux', { file_contexts: 'etc/selinux/targeted/contexts/files/file_contexts', ...(Object.keys(labels).length ? { labels } : {}) }),
  ];
  const build: Pipeline = { name: 'build', runner: image.distro.runner, stages: buildStages };
  return { pipelines: [build, ...payload], requests: { build: buildChain, ...requests }, sources };
}

/** The package sets to depsolve for this image build (pipeline name → transactions). */
export function packageRequests(input: ImageBuildInput): PackageRequests {
  return assemble(input, undefined).requests;
}

/** Builds the osbuild v2 manifest. */
export function generateManifest(input: ManifestInput): Manifest {
  const planned = assemble(input, undefined);
  for (const name of Object.keys(planned.requests)) checkTransactions(name, input.packages[name]);
  const wanted = input.blueprint?.containers?.length ?? 0;
  if ((input.containers?.length ?? 0) !== wanted) {
    throw new KilnError('KILN_MANIFEST', `the depsolve result has ${input.containers?.length ?? 0} resolved containers, the blueprint ${wanted}`, { details: { containers: wanted } });
  }
  const flatpaks = input.image.kind === 'ostree_installer' ? flatpakCount(input.image.installerConfig.flatpaks) : 0;
  if ((input.flatpaks?.length ?? 0) !== flatpaks) {
    throw new KilnError('KILN_MANIFEST', `the depsolve result has ${input.flatpaks?.length ?? 0} resolved flatpaks, image type ${input.image.name} ${flatpaks}`, { details: { flatpaks } });
  }
  const refs = (input.image.installerConfig.flatpaks ?? []).flatMap((f) => f.references);
  const stale = (input.flatpaks ?? []).findIndex((f, i) => f.ref !== refs[i]);
  if (flatpaks && stale >= 0) throw new KilnError('KILN_MANIFEST', `resolved flatpak ${stale} is ${input.flatpaks![stale].ref}, image type ${input.image.name} names ${refs[stale]} there`, {});
  const { pipelines, sources } = assemble(input, input.packages, input.modules, wanted ? input.containers : undefined, input.ostreeCommits, flatpaks ? input.flatpaks : undefined);
  return { version: '2', pipelines, sources: sources.toJSON() };
}

/** Pipeline names as composer reports them: build pipelines make CG buildroots, the rest the image. */
export function pipelineNames(manifest: Manifest): { build: string[]; payload: string[] } {
  return {
    build: manifest.pipelines.filter((p) => p.runner).map((p) => p.name),
    payload: manifest.pipelines.filter((p) => !p.runner).map((p) => p.name),
  };
}

/** The manifest as osbuild reads it (compact, key order as built). */
export function serializeManifest(manifest: Manifest, pretty = false): string {
  return pretty ? `${JSON.stringify(manifest, null, 2)}\n` : JSON.stringify(manifest);
}
