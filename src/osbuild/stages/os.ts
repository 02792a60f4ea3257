/**
 * The OS tree: its packages and, in osbuild/images' order, one small step per image-config key
 * (each turning its value into stages), with the request's customizations taking precedence
 * where upstream gives them precedence.
 */
import type { Customizations } from '../../generated/customizations.schema.js';
import type { ImageConfig, User } from '../../generated/image-definitions.schema.js';
import type { ResolvedImage } from '../definitions/resolve.js';
import { tableTools, type PartitionTable } from '../partitions/model.js';
import { bootloaderStages, bootRoot, fixBlsStage, fstabStage, kernelCmdlineStage, mountUnitStages, type BootInput } from './boot.js';
import { directoryStages, fileStages } from './files.js';
import { hasPackage, packageEvra, rpmStages, type ManifestPackage, type Sources } from './rpm.js';
import { stage, type Stage } from './stage.js';

/** One depsolve transaction to request: what to include and exclude, on top of the ones before. */
export interface PackageTransaction {
  include: string[];
  exclude: string[];
  install_weak_deps: boolean;
}

export interface OsInput {
  image: ResolvedImage;
  customizations: Customizations;
  /** The laid-out table of a disk image (undefined for archives and containers). */
  pt?: PartitionTable;
  /** The depsolved transactions of the os pipeline; undefined while planning. */
  packages?: ManifestPackage[][];
  sources: Sources;
}

/** What the image config and the customizations decide for the OS tree, precedence applied. */
export interface OsSettings {
  config: ImageConfig;
  kernelName?: string;
  kernelOptions: string[];
  language?: string;
  keyboard?: ImageConfig['keyboard'];
  hostname?: string;
  timezone?: string;
  chrony?: Record<string, unknown>;
  users: User[];
  groups: { name: string; gid?: number }[];
  enabledServices: string[];
  disabledServices: string[];
  maskedServices: string[];
  selinux: boolean;
}

const uniq = (list: string[]) => [...new Set(list)];

export function osSettings(image: ResolvedImage, customizations: Customizations): OsSettings {
  const config = image.imageConfig;
  const c = customizations;
  const bootable = image.bootable || image.ostree !== undefined;
  return {
    config,
    ...(bootable ? { kernelName: config.default_kernel_name ?? 'kernel' } : {}),
    kernelOptions: bootable ? [...(config.kernel_options ?? []), ...(c.kernel?.append ? [c.kernel.append] : [])] : [],
    ...(config.locale !== undefined ? { language: config.locale } : {}),
    ...(config.keyboard !== undefined ? { keyboard: config.keyboard } : {}),
    ...((c.hostname ?? config.hostname) !== undefined ? { hostname: c.hostname ?? config.hostname } : {}),
    ...((c.timezone?.timezone ?? config.timezone) !== undefined ? { timezone: c.timezone?.timezone ?? config.timezone } : {}),
    ...(config.time_synchronization ? { chrony: config.time_synchronization } : {}),
    users: [
      ...(c.users ?? []).map((u): User => ({ name: u.name, ...(u.password ? { password: u.password } : {}), ...(u.key ? { key: u.key } : {}), ...(u.groups?.length ? { groups: [...u.groups] } : {}) })),
      ...(image.bootIso ? [] : (config.users ?? [])),
    ],
    groups: [],
    enabledServices: uniq([...(config.enabled_services ?? []), ...(c.services?.enabled ?? []), ...image.environment.services]),
    disabledServices: uniq([...(config.disabled_services ?? []), ...(c.services?.disabled ?? [])]),
    maskedServices: uniq([...(config.masked_services ?? [])]),
    selinux: !config.no_selinux,
  };
}

/**
 * The os pipeline's package chain: the image's own set (platform, kernel, environment, file
 * system tools, the type's packages), then what the configuration needs, then the request's
 * packages — each a transaction on top of the previous, as osbuild/images chains them.
 */
export function osPackageChain(image: ResolvedImage, settings: OsSettings, customizations: Customizations, pt: PartitionTable | undefined): PackageTransaction[] {
  const os = image.packageSets.os ?? { include: [], exclude: [] };
  const base: PackageTransaction = {
    include: uniq([...image.platform.packages, ...(settings.kernelName ? [settings.kernelName] : []), ...image.environment.packages, ...(pt ? tableTools(pt) : []), ...os.include]).sort(),
    exclude: [...os.exclude],
    install_weak_deps: settings.config.install_weak_deps ?? false,
  };
  const extra: string[] = [];
  if (settings.chrony) extra.push('chrony');
  if (settings.selinux) extra.push('selinux-policy-targeted');
  if (settings.users.length || settings.groups.length || settings.config.lock_root_user) extra.push('shadow-utils', 'pam', 'passwd');
  if (settings.config.firewall) extra.push('firewalld');
  if (settings.config.versionlock_packages?.length) extra.push('dnf', 'python3-dnf-plugin-versionlock');
  const chain = [base];
  if (extra.length) chain.push({ include: uniq(extra).sort(), exclude: [], install_weak_deps: false });
  const requested = uniq(customizations.packages ?? []);
  if (requested.length) chain.push({ include: requested, exclude: [], install_weak_deps: false });
  return chain;
}

function usersStage(users: User[]): Stage {
  const entries: Record<string, Record<string, unknown>> = {};
  for (const u of users) {
    const { name, force_password_reset, ...rest } = u;
    entries[name] = { ...rest, ...(force_password_reset ? { force_password_reset } : {}) };
  }
  return stage('org.osbuild.users', { users: Object.fromEntries(Object.entries(entries).sort(([a], [b]) => (a < b ? -1 : 1))) });
}

function sysconfigStage(config: ImageConfig): Stage | undefined {
  const options: Record<string, unknown> = {};
  if (config.default_kernel !== undefined || config.update_default_kernel !== undefined) {
    options.kernel = {
      ...(config.update_default_kernel !== undefined ? { update_default: config.update_default_kernel } : {}),
      ...(config.default_kernel !== undefined ? { default_kernel: config.default_kernel } : {}),
    };
  }
  const sc = config.sysconfig;
  if (sc?.networking) options.network = { networking: true, ...(sc.no_zero_conf !== undefined ? { no_zero_conf: sc.no_zero_conf } : {}) };
  if (sc?.create_default_network_scripts) {
    options['network-scripts'] = { ifcfg: { eth0: { device: 'eth0', bootproto: 'dhcp', onboot: true, type: 'Ethernet', userctl: true, peerdns: true, ipv6init: false } } };
  }
  return Object.keys(options).length ? stage('org.osbuild.sysconfig', options) : undefined;
}

function dnfConfigStage(image: ResolvedImage): Stage | undefined {
  const dc = image.imageConfig.dnf_config;
  if (!dc) return undefined;
  const options = structuredClone((dc.options ?? {}) as Record<string, unknown>);
  if (dc.set_releasever_var) {
    const variables = [...((options.variables as { name: string; value: string }[] | undefined) ?? [])];
    if (!variables.some((v) => v.name === 'releasever')) variables.push({ name: 'releasever', value: image.distro.osVersion });
    options.variables = variables;
  }
  return Object.keys(options).length ? stage('org.osbuild.dnf.config', options) : undefined;
}

/** One stage per list entry, or one for an object value, options as written (they are osbuild's). */
const each = (type: string, value: unknown[] | undefined): Stage[] => (value ?? []).map((v) => stage(type, v as Record<string, unknown>));
const one = (type: string, value: unknown): Stage[] => (value === undefined ? [] : [stage(type, value as Record<string, unknown>)]);

/** The os pipeline's stages. */
export function osStages(input: OsInput, settings: OsSettings): Stage[] {
  const { image, pt, packages, sources } = input;
  const cfg = settings.config;
  const platform = image.platform;
  const kernelVersion = settings.kernelName ? packageEvra(packages, settings.kernelName) : undefined;
  const boot: BootInput | undefined = pt
    ? {
        pt,
        platform,
        kernelOptions: settings.kernelOptions,
        kernelOptionsBootloader: cfg.kernel_options_bootloader ?? false,
        mountUnits: cfg.mount_units ?? false,
        noBls: cfg.no_bls ?? false,
        ...(kernelVersion ? { kernelVersion } : {}),
        ...(cfg.grub2_config ? { grub2Config: cfg.grub2_config } : {}),
        product: { name: image.distro.product, version: image.distro.osVersion, ...(image.distro.codename ? { nick: image.distro.codename } : {}) },
        rescueKernel: hasPackage(packages, 'dracut-config-rescue'),
        fips: false,
        ...(packages ? { ukiDirectVersion: packages.flat().find((p) => p.name === 'uki-direct')?.version ?? null } : {}),
      }
    : undefined;

  const stages: Stage[] = [];
  const cmdline = boot ? kernelCmdlineStage(boot) : undefined;
  if (cmdline) stages.push(cmdline);
  // dracut configuration is in place before the kernel's package runs dracut
  stages.push(...each('org.osbuild.dracut.conf', cfg.dracut_conf));

  const rpmOptions: Record<string, unknown> = {};
  if (cfg.exclude_docs) rpmOptions.exclude = { docs: true };
  if (cfg.install_langs?.length) rpmOptions.install_langs = [...cfg.install_langs];
  if (image.distro.rpmkeysBinary) rpmOptions.rpmkeys = { bin_path: image.distro.rpmkeysBinary };
  // UKIs are installed into the ESP: kernel-install must know where that is
  if (pt && platform.bootloader === 'uki') rpmOptions.kernel_install_env = { boot_root: bootRoot(pt, platform) };
  const rpm = rpmStages(packages, rpmOptions, sources);
  // keys shipped in packages (the release's gpg keys) are imported once every package is in
  if (cfg.gpgkey_files?.length) rpm[rpm.length - 1].options!['gpgkeys.fromtree'] = [...cfg.gpgkey_files];
  stages.push(...rpm);

  if (!cfg.no_bls) stages.push(fixBlsStage(pt, platform));
  if (settings.language) stages.push(stage('org.osbuild.locale', { language: settings.language }));
  if (settings.keyboard) stages.push(stage('org.osbuild.keymap', { ...settings.keyboard }));
  if (settings.hostname) stages.push(stage('org.osbuild.hostname', { hostname: settings.hostname }));
  if (settings.timezone) stages.push(stage('org.osbuild.timezone', { zone: settings.timezone }));
  if (settings.chrony) stages.push(stage('org.osbuild.chrony', settings.chrony));
  if (settings.groups.length) {
    stages.push(stage('org.osbuild.groups', { groups: Object.fromEntries(settings.groups.map((g) => [g.name, g.gid !== undefined ? { gid: g.gid } : {}])), force: true }));
  }
  if (cfg.lock_root_user) stages.push(stage('org.osbuild.users', { users: { root: { password: '!locked' } } }));
  if (settings.users.length) stages.push(usersStage(settings.users));
  stages.push(...one('org.osbuild.firewall', cfg.firewall));
  const sysconfig = sysconfigStage(cfg);
  if (sysconfig) stages.push(sysconfig);
  stages.push(...each('org.osbuild.systemd-logind', cfg.systemd_logind));
  stages.push(...each('org.osbuild.cloud-init', cfg.cloud_init));
  stages.push(...each('org.osbuild.modprobe', cfg.modprobe));
  stages.push(...each('org.osbuild.systemd.unit', cfg.systemd_dropin));
  stages.push(...each('org.osbuild.systemd.unit.create', cfg.systemd_unit));
  stages.push(...one('org.osbuild.authselect', cfg.authselect));
  stages.push(...one('org.osbuild.selinux.config', cfg.selinux_config));
  stages.push(...one('org.osbuild.tuned', cfg.tuned));
  stages.push(...each('org.osbuild.tmpfilesd', cfg.tmpfilesd));
  stages.push(...each('org.osbuild.pam.limits.conf', cfg.pam_limits_conf));
  stages.push(...each('org.osbuild.sysctld', cfg.sysctld));
  const dnfConfig = dnfConfigStage(image);
  if (dnfConfig) stages.push(dnfConfig);
  stages.push(...one('org.osbuild.dnf-automatic.config', cfg.dnf_automatic_config));
  stages.push(...each('org.osbuild.yum.repos', cfg.yum_repos));
  stages.push(...one('org.osbuild.yum.config', cfg.yum_config));
  stages.push(...one('org.osbuild.gcp.guest-agent.conf', cfg.gcp_guest_agent_config));
  stages.push(...one('org.osbuild.sshd.config', cfg.sshd_config));
  stages.push(...one('org.osbuild.nm.conf', cfg.network_manager));
  stages.push(...one('org.osbuild.authconfig', cfg.authconfig));
  stages.push(...one('org.osbuild.pwquality.conf', cfg.pwquality));
  stages.push(...one('org.osbuild.rhsm', cfg.rhsm_config?.['no-subscription']));
  stages.push(...one('org.osbuild.waagent.conf', cfg.waagent_config));
  stages.push(...one('org.osbuild.udev.rules', cfg.udev_rules));
  if (boot && pt) {
    if (boot.mountUnits) stages.push(...mountUnitStages(pt));
    else stages.push(fstabStage(pt));
    stages.push(...bootloaderStages(boot, sources));
  }
  stages.push(...directoryStages(cfg.directories ?? []));
  stages.push(...fileStages(cfg.files ?? [], sources));
  if (settings.enabledServices.length || settings.disabledServices.length || settings.maskedServices.length || cfg.default_target) {
    stages.push(
      stage('org.osbuild.systemd', {
        ...(settings.enabledServices.length ? { enabled_services: settings.enabledServices } : {}),
        ...(settings.disabledServices.length ? { disabled_services: settings.disabledServices } : {}),
        ...(settings.maskedServices.length ? { masked_services: settings.maskedServices } : {}),
        ...(cfg.default_target ? { default_target: cfg.default_target } : {}),
      }),
    );
  }
  stages.push(...each('org.osbuild.shell.init', cfg.shell_init));
  if (cfg.wsl?.config) stages.push(stage('org.osbuild.wsl.conf', cfg.wsl.config));
  if (cfg.wsl?.distribution_config) stages.push(stage('org.osbuild.wsl-distribution.conf', wslDistribution(cfg.wsl.distribution_config, image.distro.osVersion)));
  stages.push(...one('org.osbuild.systemd.preset', cfg.presets && image.ostree ? { presets: cfg.presets } : undefined));
  if (cfg.versionlock_packages?.length) stages.push(stage('org.osbuild.dnf4.versionlock', { add: cfg.versionlock_packages.map((n) => versionlockSpec(packages, n)) }));
  if (cfg.machine_id_uninitialized) stages.push(stage('org.osbuild.machine-id', { 'first-boot': 'yes' }));
  if (settings.selinux) {
    stages.push(stage('org.osbuild.selinux', { file_contexts: 'etc/selinux/targeted/contexts/files/file_contexts', ...(cfg.selinux_force_relabel ? { force_autorelabel: true } : {}) }));
  }
  return stages;
}

/** `default_name` may carry %s for the OS version (as upstream formats it). */
function wslDistribution(options: Record<string, unknown>, osVersion: string): Record<string, unknown> {
  const out = structuredClone(options);
  const oobe = out.oobe as { default_name?: string } | undefined;
  if (oobe?.default_name?.includes('%s')) oobe.default_name = oobe.default_name.replace('%s', osVersion);
  return out;
}

function versionlockSpec(packages: ManifestPackage[][] | undefined, name: string): string {
  const p = packages?.flat().find((x) => x.name === name);
  return p ? `${p.name}-${p.epoch}:${p.version}-${p.release}` : name;
}
