/**
 * ostree kinds: the OS tree committed to an ostree repository (`ostree_commit`: the repository
 * in a tar; `ostree_container`: the repository served by nginx in an OCI archive), and disks
 * that deploy a commit (`ostree_disk`: an ostree sysroot written into the partitioned disk of
 * the disk kind, then its formats and compression). The ostree installers will reuse
 * `commitPipelines` (payload); the simplified installer (simplified.ts) reuses `deploymentPipeline`.
 */
import { KilnError } from '../../errors.js';
import { mountables } from '../partitions/model.js';
import { escapePath, fstabStage, kernelCommandLine, rootMountable } from '../stages/boot.js';
import { directoryStages, fileStages } from '../stages/files.js';
import { inDeployment, pullInputs, type OstreeCommit } from '../stages/ostree.js';
import { rpmStages } from '../stages/rpm.js';
import { FIPS_FILE, fipsStages } from '../stages/security.js';
import { stage, type Pipeline, type Stage } from '../stages/stage.js';
import { containerPipelines } from './archive.js';
import { diskPipelines } from './disk.js';
import type { KindInput } from './index.js';
import { treeInput } from './outputs.js';

const REPO = '/ostree/repo';

function ostreeOf(input: KindInput): NonNullable<KindInput['ostree']> {
  if (!input.ostree) throw new KilnError('KILN_MANIFEST', `image type ${input.image.name} is an ostree type but the build has no ostree ref`, {});
  return input.ostree;
}

/** `ostree-commit`: a repository with the os tree committed as `ref` (on top of the parent, when given). */
function commitPipeline(input: KindInput): Pipeline {
  const { ref, parent } = ostreeOf(input);
  return {
    name: 'ostree-commit',
    build: 'name:build',
    stages: [
      stage('org.osbuild.ostree.init', { path: '/repo' }),
      stage('org.osbuild.ostree.commit', { ref, os_version: input.image.distro.osVersion, ...(parent ? { parent: parent.checksum } : {}) }, { inputs: { tree: treeInput('os') } }),
    ],
  };
}

export function commitPipelines(input: KindInput): Pipeline[] {
  return [
    commitPipeline(input),
    { name: 'commit-archive', build: 'name:build', stages: [stage('org.osbuild.tar', { filename: input.image.filename }, { inputs: { tree: treeInput('ostree-commit') } })] },
  ];
}

/**
 * The commit served over HTTP from a container (osbuild/images' OSTreeCommitServer): nginx and
 * the commit's repository in `container-tree`, then the OCI archive of that tree.
 */
export function containerCommitPipelines(input: KindInput): Pipeline[] {
  const { image, settings } = input;
  const { ref } = ostreeOf(input);
  const server = image.imageConfig.ostree_server as { port?: string; config_path?: string } | undefined;
  if (!server?.port || !server.config_path) {
    throw new KilnError('KILN_MANIFEST', `image type ${image.name} serves its commit from a container but its image config has no ostree_server (port, config_path)`, {});
  }
  const html = '/usr/share/nginx/html';
  const rpmOptions: Record<string, unknown> = image.distro.rpmkeysBinary ? { rpmkeys: { bin_path: image.distro.rpmkeysBinary } } : {};
  const tree: Pipeline = {
    name: 'container-tree',
    build: 'name:build',
    stages: [
      ...rpmStages(input.packages?.['container-tree'], rpmOptions, input.sources),
      stage('org.osbuild.locale', { language: settings.language ?? 'en_US' }),
      stage('org.osbuild.ostree.init', { path: `${html}/repo` }),
      stage('org.osbuild.ostree.pull', { repo: `${html}/repo` }, { inputs: pullInputs({ pipeline: 'ostree-commit' }, ref) }),
      stage('org.osbuild.chmod', { items: { '/var/log/nginx': { mode: 'a+rwX', recursive: true } } }),
      stage('org.osbuild.chmod', { items: { '/var/lib/nginx': { mode: 'a+rwX', recursive: true } } }),
      stage('org.osbuild.nginx.conf', { path: server.config_path, config: { listen: server.port, root: html, daemon: false, pid: '/tmp/nginx.pid' } }),
    ],
  };
  const [container] = containerPipelines(input, 'container-tree');
  return [commitPipeline(input), tree, container];
}

/** systemd's mount unit name for a mount point (systemd-escape --path --suffix=mount). */
function mountUnitName(mountpoint: string): string {
  return `${escapePath(mountpoint)}.mount`;
}

/**
 * A unit that creates the blueprint's extra mount points before they are mounted: the
 * deployment's / is immutable, so their directories cannot be in the commit (osbuild/images'
 * createMountpointService).
 */
function mountpointService(mountpoints: string[]): Record<string, unknown> {
  const immutable = (flag: '-' | '+') =>
    `/bin/sh -c "if grep -Uq composefs /run/ostree-booted; then echo 'Warning: composefs enabled! ensure transient rootfs is enabled too.'; else chattr ${flag}i /; fi"`;
  return {
    filename: 'osbuild-ostree-mountpoints.service',
    'unit-type': 'system',
    'unit-path': 'etc',
    config: {
      Unit: {
        Description: 'Ensure custom filesystem mountpoints exist',
        DefaultDependencies: false,
        ConditionPathIsDirectory: mountpoints.map((m) => `|!${m}`),
        After: ['ostree-remount.service'],
        Before: mountpoints.map(mountUnitName),
      },
      Service: { Type: 'oneshot', RemainAfterExit: false, ExecStartPre: [immutable('-')], ExecStopPost: [immutable('+')], ExecStart: [`mkdir -p ${mountpoints.join(' ')}`] },
      Install: { WantedBy: ['local-fs.target'] },
    },
  };
}

/**
 * `ostree-deployment`: an ostree sysroot with the commit pulled and deployed, then the build's
 * configuration written into the deployment (osbuild/images' OSTreeDeployment).
 */
export function deploymentPipeline(input: KindInput): Pipeline {
  const { image, pt, settings, sources } = input;
  const { commit, remote } = ostreeOf(input);
  if (!pt) throw new KilnError('KILN_MANIFEST', `image type ${image.name} has no partition table for ${image.arch}`, {});
  if (!commit) throw new KilnError('KILN_MANIFEST', `image type ${image.name} deploys a commit, but the build has no resolved commit`, {});
  const osname = image.ostree?.name ?? '';
  const remoteName = image.ostree?.remoteName ?? '';
  const ref = commit.ref;
  const cfg = image.imageConfig;
  const ignition = cfg.ignition_platform ?? '';
  // a first-boot Ignition URL (simplified installers) is fetched on bare metal only, as upstream
  const firstboot = ignition === 'metal' ? input.blueprint?.customizations?.ignition?.firstboot?.url : undefined;
  const kernelOptions = kernelCommandLine(pt, {
    kernelOptions: [...settings.kernelOptions, ...(firstboot ? [`ignition.config.url=${firstboot}`] : []), ...(ignition ? [`ignition.platform.id=${ignition}`, '$ignition_firstboot'] : [])],
    mountUnits: false,
    fips: settings.fips,
  });
  const mounted = (s: Stage) => inDeployment(s, osname, ref);
  const stages: Stage[] = [
    stage('org.osbuild.ostree.init-fs', {}),
    stage('org.osbuild.ostree.os-init', { osname }),
    stage('org.osbuild.mkdir', { paths: [{ path: '/boot/efi', mode: 448 }] }),
    stage('org.osbuild.ostree.pull', { repo: REPO, ...(remoteName ? { remote: remoteName } : {}) }, { inputs: pullInputs({ source: commit.checksum }, ref) }),
    stage('org.osbuild.ostree.deploy', {
      osname,
      ref,
      ...(remoteName ? { remote: remoteName } : {}),
      mounts: ['/boot', '/boot/efi'],
      rootfs: { label: 'root' },
      kernel_opts: kernelOptions,
    }),
  ];
  if (remote?.url) {
    stages.push(stage('org.osbuild.ostree.remotes', { repo: REPO, remotes: [{ name: remoteName, url: remote.url, ...(remote.contenturl ? { contenturl: remote.contenturl } : {}) }] }));
  }
  stages.push(stage('org.osbuild.ostree.fillvar', { deployment: { osname, ref } }));
  stages.push(mounted(stage('org.osbuild.ostree.config', { repo: REPO, config: { sysroot: { readonly: cfg.ostree_conf_sysroot_readonly ?? false, bootloader: 'none' } } })));
  stages.push(mounted(fstabStage(pt)));
  if (settings.groups.length) {
    stages.push(mounted(stage('org.osbuild.groups', { groups: Object.fromEntries(settings.groups.map((g) => [g.name, g.gid !== undefined ? { gid: g.gid } : {}])), force: true })));
  }
  const users = settings.blueprint.users;
  if (users.length) {
    stages.push(mounted(stage('org.osbuild.users', { users: Object.fromEntries(users.map(({ name, ...rest }) => [name, rest]).sort(([a], [b]) => ((a as string) < (b as string) ? -1 : 1))) })));
  }
  const enabled = [...settings.blueprint.enabledServices];
  if (ignition) {
    stages.push(stage('org.osbuild.ignition', { network: ['systemd.firstboot=off', 'systemd.condition-first-boot=true'] }));
    const custom = settings.blueprint.mountpoints;
    if (custom.length) {
      stages.push(mounted(stage('org.osbuild.systemd.unit.create', mountpointService(custom))));
      enabled.push('osbuild-ostree-mountpoints.service');
    }
    if (enabled.length || settings.blueprint.disabledServices.length) {
      stages.push(
        mounted(stage('org.osbuild.systemd.preset', { presets: [...enabled.map((name) => ({ name, state: 'enable' })), ...settings.blueprint.disabledServices.map((name) => ({ name, state: 'disable' }))] })),
      );
    }
  }
  if (cfg.lock_root_user && !users.some((u) => u.name === 'root')) stages.push(mounted(stage('org.osbuild.users', { users: { root: { password: '!locked' } } })));
  if (settings.keyboard) stages.push(mounted(stage('org.osbuild.keymap', { keymap: settings.keyboard.keymap })));
  if (settings.language) stages.push(mounted(stage('org.osbuild.locale', { language: settings.language })));
  if (settings.fips) {
    stages.push(...fileStages([FIPS_FILE], sources).map(mounted));
    stages.push(...fipsStages().map(mounted));
  }
  const root = rootMountable(pt);
  const boot = mountables(pt).find((m) => m.mountpoint === '/boot' && m.path.length === 0 && 'kind' in m.entity);
  const platform = image.platform;
  stages.push(
    mounted(
      stage('org.osbuild.grub2', {
        compat_version: 2,
        root_fs_uuid: ('kind' in root.entity ? root.entity.uuid : root.volume!.uuid)!,
        ...(boot && 'kind' in boot.entity ? { boot_fs_uuid: boot.entity.uuid } : {}),
        kernel_opts: kernelOptions.join(' '),
        ...(platform.biosPlatform ? { legacy: platform.biosPlatform } : {}),
        ...(platform.uefiVendor ? { uefi: { vendor: platform.uefiVendor, install: true, unified: true } } : {}),
        write_cmdline: false,
        greenboot: true,
        ...(ignition ? { ignition: true } : {}),
        config: { default: 'saved', timeout: 1, terminal_output: ['console'] },
      }),
    ),
  );
  stages.push(...directoryStages(settings.blueprint.directories).map(mounted));
  stages.push(...fileStages(settings.blueprint.files, sources).map(mounted));
  if (enabled.length || settings.blueprint.disabledServices.length) {
    stages.push(
      mounted(stage('org.osbuild.systemd', { ...(enabled.length ? { enabled_services: enabled } : {}), ...(settings.blueprint.disabledServices.length ? { disabled_services: settings.blueprint.disabledServices } : {}) })),
    );
  }
  stages.push(stage('org.osbuild.ostree.selinux', { deployment: { osname, ref } }));
  return { name: 'ostree-deployment', build: 'name:build', stages };
}

/** The deployment, then the disk kind's pipelines with the deployment as the tree and boot files from the commit. */
export function ostreeDiskPipelines(input: KindInput): Pipeline[] {
  const commit = ostreeOf(input).commit;
  const format = input.image.platform.imageFormat ?? 'raw';
  if (format !== 'raw' && input.image.compression) {
    throw new KilnError('KILN_MANIFEST', `image type ${input.image.name}: an ostree disk is compressed only as a raw image, not as ${format}`, {});
  }
  return [deploymentPipeline(input), ...diskPipelines({ ...input, tree: 'ostree-deployment', ...(commit ? { bootFilesCommit: commit as OstreeCommit } : {}) })];
}
