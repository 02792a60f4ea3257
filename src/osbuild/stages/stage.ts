/**
 * osbuild stages as Kiln emits them, and what each needs in the build root. The build root's
 * package set is derived from the stages of every pipeline that runs in it (`buildRootPackages`),
 * so a stage can never run in a build root without its tools; a stage type missing from
 * STAGE_TOOLS is a programming error a test catches.
 */
import type { ResolvedDistro } from '../definitions/resolve.js';

export interface Stage {
  type: string;
  inputs?: Record<string, unknown>;
  options?: Record<string, unknown>;
  devices?: Record<string, unknown>;
  mounts?: Record<string, unknown>[];
}

export interface Pipeline {
  name: string;
  /** Pipelines that run in the build root say so; the build pipeline itself has none. */
  build?: string;
  runner?: string;
  stages: Stage[];
}

export function stage(type: string, options?: Record<string, unknown>, extra: Omit<Stage, 'type' | 'options'> = {}): Stage {
  return { type, ...(extra.inputs ? { inputs: extra.inputs } : {}), ...(options !== undefined ? { options } : {}), ...(extra.devices ? { devices: extra.devices } : {}), ...(extra.mounts ? { mounts: extra.mounts } : {}) };
}

/** TOML writers for stages that write TOML files, per distro generation (as osbuild/images picks them). */
function tomlPackages(distro: ResolvedDistro): string[] {
  if (distro.family === 'fedora') return ['python3-tomli-w'];
  if (distro.major === 9) return ['python3-toml'];
  if (distro.major === 8) return ['python3-pytoml'];
  return ['python3-tomli-w'];
}

type Tools = string[] | ((distro: ResolvedDistro) => string[]);

/**
 * Build-root packages per stage type, beyond the base every build root has (coreutils, the
 * runner's python, rpm's libraries). Stages that only write files with Python's standard
 * library need nothing.
 */
export const STAGE_TOOLS: Record<string, Tools> = {
  'org.osbuild.rpm': ['rpm'],
  'org.osbuild.selinux': ['policycoreutils', 'selinux-policy-targeted'],
  'org.osbuild.selinux.config': [],
  'org.osbuild.kernel-cmdline': [],
  'org.osbuild.fix-bls': [],
  'org.osbuild.locale': [],
  'org.osbuild.keymap': [],
  'org.osbuild.hostname': [],
  'org.osbuild.timezone': [],
  'org.osbuild.chrony': [],
  'org.osbuild.groups': ['shadow-utils'],
  'org.osbuild.users': ['shadow-utils'],
  'org.osbuild.first-boot': [],
  'org.osbuild.firewall': [],
  'org.osbuild.sysconfig': [],
  'org.osbuild.systemd-logind': [],
  'org.osbuild.cloud-init': ['python3-pyyaml'],
  'org.osbuild.modprobe': [],
  'org.osbuild.dracut.conf': [],
  'org.osbuild.dracut': [],
  'org.osbuild.systemd.unit': [],
  'org.osbuild.systemd.unit.create': [],
  'org.osbuild.systemd': [],
  'org.osbuild.systemd.preset': [],
  'org.osbuild.systemd-journald': [],
  'org.osbuild.authselect': [],
  'org.osbuild.authconfig': [],
  'org.osbuild.tuned': [],
  'org.osbuild.tmpfilesd': [],
  'org.osbuild.pam.limits.conf': [],
  'org.osbuild.sysctld': [],
  'org.osbuild.dnf.config': ['python3-iniparse'],
  'org.osbuild.dnf.module-config': [],
  'org.osbuild.dnf-automatic.config': ['python3-iniparse'],
  'org.osbuild.dnf4.versionlock': [],
  'org.osbuild.yum.config': ['python3-iniparse'],
  'org.osbuild.yum.repos': [],
  'org.osbuild.rhsm': ['python3-iniparse'],
  'org.osbuild.rhsm.facts': [],
  'org.osbuild.gcp.guest-agent.conf': [],
  'org.osbuild.sshd.config': [],
  'org.osbuild.insights-client.config': [],
  'org.osbuild.nm.conf': [],
  'org.osbuild.pwquality.conf': [],
  'org.osbuild.waagent.conf': [],
  'org.osbuild.udev.rules': [],
  'org.osbuild.fstab': [],
  'org.osbuild.grub2': [],
  'org.osbuild.grub2.legacy': [],
  'org.osbuild.zipl': [],
  'org.osbuild.shell.init': [],
  'org.osbuild.wsl.conf': ['python3-iniparse'],
  'org.osbuild.wsl-distribution.conf': ['python3-iniparse'],
  'org.osbuild.update-crypto-policies': [],
  'org.osbuild.machine-id': [],
  'org.osbuild.mkdir': [],
  'org.osbuild.copy': [],
  'org.osbuild.chmod': [],
  'org.osbuild.chown': [],
  'org.osbuild.pki.update-ca-trust': [],
  'org.osbuild.oscap.autotailor': ['openscap-utils'],
  'org.osbuild.oscap.remediation': [],
  'org.osbuild.containers.storage.conf': tomlPackages,
  'org.osbuild.skopeo': ['skopeo'],
  'org.osbuild.flatpak.build-import-bundle.oci': ['flatpak', 'skopeo'],
  'org.osbuild.bootc.install.config': tomlPackages,
  'org.osbuild.hmac': ['libkcapi-hmaccalc'],
  // disk image pipeline
  'org.osbuild.truncate': [],
  'org.osbuild.sfdisk': ['util-linux'],
  'org.osbuild.sgdisk': ['gdisk'],
  'org.osbuild.mkfs.ext4': ['e2fsprogs'],
  'org.osbuild.mkfs.xfs': ['xfsprogs'],
  'org.osbuild.mkfs.fat': ['dosfstools'],
  'org.osbuild.mkfs.btrfs': ['btrfs-progs'],
  'org.osbuild.btrfs.subvol': ['btrfs-progs'],
  'org.osbuild.mkswap': ['util-linux'],
  'org.osbuild.lvm2.create': ['lvm2'],
  'org.osbuild.lvm2.metadata': ['lvm2'],
  'org.osbuild.luks2.format': ['cryptsetup'],
  'org.osbuild.luks2.remove-key': ['cryptsetup'],
  'org.osbuild.clevis.luks-bind': ['clevis', 'clevis-luks'],
  'org.osbuild.grub2.inst': [],
  // ostree commits, the commit server and deployments (rpm-ostree brings ostree)
  'org.osbuild.ostree.preptree': ['rpm-ostree'],
  'org.osbuild.ostree.passwd': ['rpm-ostree'],
  'org.osbuild.ostree.init': ['rpm-ostree'],
  'org.osbuild.ostree.commit': ['rpm-ostree'],
  'org.osbuild.ostree.pull': ['rpm-ostree'],
  'org.osbuild.ostree.init-fs': ['rpm-ostree'],
  'org.osbuild.ostree.os-init': ['rpm-ostree'],
  'org.osbuild.ostree.deploy': ['rpm-ostree'],
  'org.osbuild.ostree.remotes': ['rpm-ostree'],
  'org.osbuild.ostree.fillvar': ['rpm-ostree'],
  'org.osbuild.ostree.config': ['rpm-ostree'],
  'org.osbuild.ostree.selinux': ['rpm-ostree', 'policycoreutils', 'selinux-policy-targeted'],
  'org.osbuild.bootupd.gen-metadata': [],
  'org.osbuild.ignition': [],
  'org.osbuild.nginx.conf': [],
  'org.osbuild.zipl.inst': ['s390utils-base'],
  'org.osbuild.bootctl.install.root': ['systemd-boot-unsigned'],
  // output pipelines
  'org.osbuild.qemu': ['qemu-img'],
  'org.osbuild.xz': ['xz'],
  'org.osbuild.zstd': ['zstd'],
  'org.osbuild.gzip': ['gzip'],
  'org.osbuild.tar': ['tar'],
  // the layer is tarred, then gzipped (`gzip -S .compressed`)
  'org.osbuild.oci-archive': ['gzip', 'tar'],
  // both read the disk's virtual size with `qemu-img info`
  'org.osbuild.ovf': ['qemu-img'],
  'org.osbuild.vagrant': ['qemu-img'],
  // installer ISOs (the boot loader files they copy come with the kind's build packages)
  'org.osbuild.buildstamp': [],
  'org.osbuild.anaconda': [],
  'org.osbuild.lorax-script': [],
  'org.osbuild.kickstart': [],
  'org.osbuild.discinfo': [],
  'org.osbuild.squashfs': ['squashfs-tools'],
  'org.osbuild.erofs': ['erofs-utils'],
  'org.osbuild.grub2.iso': [],
  'org.osbuild.grub2.iso.legacy': ['grub2-pc-modules'],
  'org.osbuild.isolinux': [],
  // the simplified installer's FDO root certificates (copied into the coreos-installer tree)
  'org.osbuild.fdo': [],
  'org.osbuild.xorrisofs': ['xorriso'],
  'org.osbuild.implantisomd5': ['isomd5sum'],
};

export function stageTools(type: string, distro: ResolvedDistro): string[] {
  const tools = STAGE_TOOLS[type];
  if (tools === undefined) throw new Error(`no build-root packages are known for stage ${type} (add it to STAGE_TOOLS)`);
  return typeof tools === 'function' ? tools(distro) : tools;
}
