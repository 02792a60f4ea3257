/**
 * What makes a disk boot, in the OS tree: the kernel command line, the boot loader's
 * configuration (grub2, grub2 legacy without BLS, zipl), and how file systems are mounted
 * (/etc/fstab or systemd .mount units).
 */
import path from 'node:path';
import { KilnError } from '../../errors.js';
import type { ResolvedPlatform } from '../definitions/resolve.js';
import { mountables, PARTITION_GUIDS, type Filesystem, type Mountable, type PartitionTable } from '../partitions/model.js';
import { fileStages, directoryStages } from './files.js';
import type { Sources } from './rpm.js';
import { stage, type Stage } from './stage.js';

export interface BootInput {
  pt: PartitionTable;
  platform: ResolvedPlatform;
  /** Options from the image config, then the blueprint's kernel.append. */
  kernelOptions: string[];
  /** Kernel options go to grubenv instead of /etc/kernel/cmdline (RHEL 7/8). */
  kernelOptionsBootloader: boolean;
  mountUnits: boolean;
  noBls: boolean;
  /** `<version>-<release>.<arch>` of the installed kernel; undefined before depsolving. */
  kernelVersion?: string;
  grub2Config?: Record<string, unknown>;
  /** For grub2 legacy menus. */
  product: { name: string; version: string; nick?: string };
  rescueKernel: boolean;
  fips: boolean;
  /**
   * uki-direct's version when the tree has it (its install script before 25.3 neither writes the
   * UKI's .hmac nor its add-ons directory); undefined while planning, when both are assumed needed.
   */
  ukiDirectVersion?: string | null;
}

export function rootMountable(pt: PartitionTable): Mountable {
  const root = mountables(pt).find((m) => m.mountpoint === '/');
  if (!root) throw new Error('partition table without /'); // layout() refuses such tables first
  return root;
}

function fsUuid(m: Mountable): string {
  return ('kind' in m.entity ? m.entity.uuid : m.volume!.uuid)!;
}

/** The /boot file system when it sits directly on a partition (grub2's prefix then has no /boot). */
function plainBoot(pt: PartitionTable): Filesystem | undefined {
  const m = mountables(pt).find((x) => x.mountpoint === '/boot');
  return m && m.path.length === 0 && 'kind' in m.entity ? m.entity : undefined;
}

/**
 * The kernel command line: mount options root needs (units mode), LUKS volumes, the btrfs
 * subvolume of /, then the image's options, then FIPS. `root=` is not in it: the stages write
 * root=UUID= themselves.
 */
export function kernelCommandLine(pt: PartitionTable, input: Pick<BootInput, 'kernelOptions' | 'mountUnits' | 'fips'>): string[] {
  const opts: string[] = [];
  const list = mountables(pt);
  const usr = list.find((m) => m.mountpoint === '/usr');
  if (usr && input.mountUnits && 'kind' in usr.entity) {
    opts.push(`mount.usr=UUID=${usr.entity.uuid}`, `mount.usrfstype=${usr.entity.type}`, `mount.usrflags=${usr.entity.fstabOptions}`);
  }
  const root = list.find((m) => m.mountpoint === '/');
  if (input.mountUnits && root && root.entity.fstabOptions !== 'defaults') opts.push(`rootflags=${root.entity.fstabOptions}`);
  for (const p of pt.partitions) if (p.payload?.kind === 'luks') opts.push(`luks.uuid=${p.payload.uuid}`);
  if (root?.volume && !input.mountUnits) opts.push(`rootflags=subvol=${(root.entity as { name: string }).name}`);
  opts.push(...input.kernelOptions);
  if (input.fips) {
    opts.push('fips=1');
    const boot = list.find((m) => m.mountpoint === '/boot');
    if (boot && 'kind' in boot.entity) opts.push(boot.entity.label ? `boot=LABEL=${boot.entity.label}` : `boot=UUID=${boot.entity.uuid}`);
  }
  return opts;
}

/** kernel-cmdline: first stage of the OS tree, so kernel installs pick the options up. */
export function kernelCmdlineStage(input: BootInput): Stage | undefined {
  const { platform } = input;
  const wanted = (platform.bootloader === 'grub2' && !input.kernelOptionsBootloader) || platform.bootloader === 'zipl';
  if (!wanted) return undefined;
  const opts = kernelCommandLine(input.pt, input).join(' ');
  return stage('org.osbuild.kernel-cmdline', { root_fs_uuid: fsUuid(rootMountable(input.pt)), ...(opts ? { kernel_opts: opts } : {}) });
}

/** The ESP's mount point: a FAT file system directly on the EFI system partition. */
export function espMountpoint(pt: PartitionTable): string {
  const esp = mountables(pt).find((m) => m.path.length === 0 && pt.partitions[m.partition].type === PARTITION_GUIDS.esp && 'kind' in m.entity);
  if (!esp) throw new KilnError('KILN_MANIFEST', 'a UKI image needs an EFI system partition with a file system', {});
  return esp.mountpoint;
}

/** Where kernels go: /boot, or the ESP for UKIs (kernel-install's BOOT_ROOT). */
export function bootRoot(pt: PartitionTable | undefined, platform: ResolvedPlatform): string {
  return pt && platform.bootloader === 'uki' ? espMountpoint(pt) : '/boot';
}

export function fixBlsStage(pt: PartitionTable | undefined, platform: ResolvedPlatform): Stage {
  if (!pt) return stage('org.osbuild.fix-bls', {});
  const root = bootRoot(pt, platform);
  const plain = root === '/boot' ? plainBoot(pt) !== undefined : true;
  return stage('org.osbuild.fix-bls', plain ? { prefix: '' } : {});
}

/** fstab entries sorted as upstream writes them: by pass number, then path. */
export function fstabStage(pt: PartitionTable): Stage {
  const entries = mountables(pt)
    .map((m) => {
      const uuid = fsUuid(m);
      const type = 'kind' in m.entity ? m.entity.type : 'btrfs';
      const subvol = m.volume ? `subvol=${(m.entity as { name: string }).name}` : '';
      const fsOptions = m.entity.fstabOptions;
      const options = subvol ? [fsOptions === 'defaults' ? '' : fsOptions, subvol, ...('compress' in m.entity && m.entity.compress ? [`compress=${m.entity.compress}`] : [])].filter(Boolean).join(',') : fsOptions;
      const freq = 'kind' in m.entity ? m.entity.fstabFreq : 0;
      const passno = 'kind' in m.entity ? m.entity.fstabPassno : 0;
      return { uuid, vfs_type: type as string, path: m.mountpoint, options, ...(freq ? { freq } : {}), ...(passno ? { passno } : {}) };
    })
    .concat(swapEntries(pt))
    .sort((a, b) => {
      const ka = `${a.passno ?? 0}${a.path}`;
      const kb = `${b.passno ?? 0}${b.path}`;
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
  return stage('org.osbuild.fstab', { filesystems: entries });
}

function swapEntries(pt: PartitionTable): { uuid: string; vfs_type: string; path: string; options: string; freq?: number; passno?: number }[] {
  const out: { uuid: string; vfs_type: string; path: string; options: string }[] = [];
  const visit = (payload: PartitionTable['partitions'][number]['payload']) => {
    if (payload?.kind === 'swap') out.push({ uuid: payload.uuid!, vfs_type: 'swap', path: 'none', options: payload.fstabOptions });
    if (payload?.kind === 'lvm') for (const lv of payload.logicalVolumes) visit(lv.payload);
    if (payload?.kind === 'luks') visit(payload.payload);
  };
  for (const p of pt.partitions) visit(p.payload);
  return out;
}

/** systemd-escape of a mount point: / → -, /boot/efi → boot-efi. */
export function escapePath(p: string): string {
  if (p === '/') return '-';
  return p
    .replace(/^\/+|\/+$/g, '')
    .replace(/\\/g, '\\x5c')
    .replace(/-/g, '\\x2d')
    .replace(/\//g, '-');
}

/** One .mount unit per file system instead of fstab, and a systemd stage that enables them. */
export function mountUnitStages(pt: PartitionTable): Stage[] {
  const units = mountables(pt)
    .map((m) => {
      const uuid = fsUuid(m);
      const type = 'kind' in m.entity ? m.entity.type : 'btrfs';
      return {
        filename: `${escapePath(m.mountpoint)}.mount`,
        options: {
          filename: `${escapePath(m.mountpoint)}.mount`,
          'unit-path': 'etc',
          config: {
            Unit: { DefaultDependencies: true },
            Mount: { What: `/dev/disk/by-uuid/${type === 'vfat' ? uuid : uuid.toLowerCase()}`, Where: m.mountpoint, Type: type, Options: m.entity.fstabOptions },
            Install: { WantedBy: ['multi-user.target'] },
          },
        },
      };
    })
    .sort((a, b) => (a.filename < b.filename ? -1 : 1));
  return [...units.map((u) => stage('org.osbuild.systemd.unit.create', u.options)), stage('org.osbuild.systemd', { enabled_services: units.map((u) => u.filename) })];
}

const UKI_ARCH: Record<string, string> = { x86_64: 'x64', aarch64: 'aa64' };

/**
 * A UKI boots through shim: BOOT<arch>.CSV in the vendor's EFI directory tells shim's fallback
 * which image to add as a boot entry (UTF-16, as the firmware reads it). Old uki-direct also
 * leaves the UKI's .hmac (FIPS) and its add-ons directory to us.
 */
function ukiStages(input: BootInput, sources: Sources): Stage[] {
  const { pt, platform } = input;
  const short = UKI_ARCH[platform.arch];
  if (!short) throw new KilnError('KILN_MANIFEST', `UKIs boot on x86_64 and aarch64 only, not ${platform.arch}`, {});
  if (!platform.uefiVendor) throw new KilnError('KILN_MANIFEST', 'a UKI platform needs a uefi_vendor', {});
  const esp = espMountpoint(pt);
  const kernelFile = `ffffffffffffffffffffffffffffffff-${input.kernelVersion ?? 'unknown'}.efi`;
  const csv = `shim${short}.efi,${platform.uefiVendor},\\EFI\\Linux\\${kernelFile} ,UKI bootentry\n`;
  const stages = fileStages([{ path: path.posix.join(esp, 'EFI', platform.uefiVendor, `BOOT${short.toUpperCase()}.CSV`), bytes: Buffer.from(csv, 'utf16le') }], sources);
  const old = input.ukiDirectVersion === undefined || (input.ukiDirectVersion !== null && versionBelow(input.ukiDirectVersion, '25.3'));
  if (old) {
    const kernelPath = path.posix.join(esp, 'EFI', 'Linux', kernelFile);
    stages.push(stage('org.osbuild.hmac', { paths: [kernelPath], algorithm: 'sha512' }), ...directoryStages([{ path: `${kernelPath}.extra.d`, ensure_parents: true }]));
  }
  return stages;
}

function versionBelow(version: string, than: string): boolean {
  const a = version.split('.').map(Number);
  const b = than.split('.').map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) < (b[i] ?? 0);
  return false;
}

/** The boot loader's configuration in the tree (the image pipeline installs its first stage). */
export function bootloaderStages(input: BootInput, sources: Sources): Stage[] {
  const { pt, platform } = input;
  const root = rootMountable(pt);
  const boot = plainBoot(pt);
  const cmdline = kernelCommandLine(pt, input).join(' ');
  switch (platform.bootloader) {
    case 'grub2': {
      if (input.noBls) {
        const entry = { id: '76a22bf4-f153-4541-b6c7-0332c0dfaeac', product: input.product, kernel: input.kernelVersion ?? 'unknown' };
        return [
          stage('org.osbuild.grub2.legacy', {
            rootfs: { uuid: fsUuid(root) },
            ...(mountables(pt).some((m) => m.mountpoint === '/boot') ? { bootfs: { uuid: fsUuid(mountables(pt).find((m) => m.mountpoint === '/boot')!) } } : {}),
            entries: [{ default: true, ...entry }, ...(input.rescueKernel ? [{ id: entry.id, product: entry.product, kernel: '0-rescue-ffffffffffffffffffffffffffffffff' }] : [])],
            ...(platform.biosPlatform ? { bios: { platform: platform.biosPlatform } } : {}),
            ...(platform.uefiVendor ? { uefi: { vendor: platform.uefiVendor } } : {}),
            config: { ...input.grub2Config, cmdline, distributor: (input.grub2Config?.distributor as string | undefined) ?? "$(sed 's, release .*$,,g' /etc/system-release)" },
          }),
        ];
      }
      // boot what grub2-set-default saved; the image's grub2_config cannot change that
      const config: Record<string, unknown> = { ...input.grub2Config, default: 'saved' };
      return [
        stage('org.osbuild.grub2', {
          compat_version: 2,
          root_fs_uuid: fsUuid(root),
          ...(boot ? { boot_fs_uuid: boot.uuid } : {}),
          ...(cmdline ? { kernel_opts: cmdline } : {}),
          ...(platform.biosPlatform ? { legacy: platform.biosPlatform } : {}),
          ...(platform.uefiVendor ? { uefi: { vendor: platform.uefiVendor, ...(input.kernelOptionsBootloader ? {} : { unified: true }) } } : {}),
          ...(input.kernelVersion ? { saved_entry: `ffffffffffffffffffffffffffffffff-${input.kernelVersion}` } : {}),
          ...(input.kernelOptionsBootloader ? {} : { write_cmdline: false }),
          config,
        }),
      ];
    }
    case 'zipl':
      return [stage('org.osbuild.zipl', {})];
    case 'uki':
      return ukiStages(input, sources);
    default:
      return [];
  }
}
