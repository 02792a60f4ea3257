/**
 * The OS tree: its packages and, in osbuild/images' order, one small step per image-config key
 * (each turning its value into stages), with the blueprint taking precedence where upstream
 * gives it precedence (osbuild/images' generic/images.go osCustomizations).
 */
import { blueprintPackages, blueprintUsers, cryptPassword, saltOf, type Blueprint } from '../../blueprint/index.js';
import type { ContainerSpec } from '../../containers/index.js';
import type { FileNode, ImageConfig, User } from '../../generated/image-definitions.schema.js';
import type { ResolvedImage } from '../definitions/resolve.js';
import { tableTools, type PartitionTable } from '../partitions/model.js';
import { SeededRandom } from '../partitions/uuids.js';
import { containersPlan, containerStages, type ContainersPlan } from './containers.js';
import { bootloaderStages, bootRoot, fixBlsStage, fstabStage, kernelCmdlineStage, mountUnitStages, type BootInput } from './boot.js';
import { directoryStages, fileStages } from './files.js';
import { moduleStages, type ImageModule } from './modules.js';
import { caAnchorFiles, updateCaTrustStage } from './pki.js';
import { customRepositories } from './repos.js';
import { hasPackage, packageEvra, rpmStages, type ManifestPackage, type Sources } from './rpm.js';
import { FIPS_FILE, fipsDracutStage, fipsStages, OSCAP_DATA_DIR, openscapPlan, openscapStages, type OpenSCAPPlan } from './security.js';
import { addOstreeSource, passwdStage, type OstreeCommit } from './ostree.js';
import { stage, type Stage } from './stage.js';
import { subscriptionPlan, type Subscription, type SubscriptionPlan } from './subscription.js';

/** One depsolve transaction to request: what to include and exclude, on top of the ones before. */
export interface PackageTransaction {
  include: string[];
  exclude: string[];
  install_weak_deps: boolean;
  /** The blueprint's own packages: also resolved against the payload repositories (package set `blueprint`). */
  blueprint?: true;
  /** Module streams to enable for this transaction (name:stream). */
  enable_modules?: string[];
}

export interface OsInput {
  image: ResolvedImage;
  /** The laid-out table of a disk image (undefined for archives and containers). */
  pt?: PartitionTable;
  /** The depsolved transactions of the os pipeline; undefined while planning. */
  packages?: ManifestPackage[][];
  /** The module streams the depsolve enabled for the os pipeline (sorted by name). */
  modules?: ImageModule[];
  /** The blueprint's containers as the depsolve job resolved them; undefined while planning. */
  containers?: ContainerSpec[];
  /** The tree becomes an ostree commit of this ref, on top of `parent` when there is one. */
  ostree?: { ref: string; parent?: OstreeCommit };
  sources: Sources;
}

type Customizations = NonNullable<Blueprint['customizations']>;

/** What the image config and the blueprint decide for the OS tree, precedence applied. */
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
  /** An installer's blueprint users and groups: they go into its kickstart, not into its payload. */
  kickstartUsers: User[];
  kickstartGroups: { name: string; gid?: number }[];
  firewall?: Record<string, unknown>;
  enabledServices: string[];
  disabledServices: string[];
  maskedServices: string[];
  selinux: boolean;
  sshd?: Record<string, unknown>;
  rhsm?: Record<string, unknown>;
  setReleasever: boolean;
  yumRepos: Record<string, unknown>[];
  gpgkeyFiles: string[];
  directories: FileNode[];
  files: FileNode[];
  fips: boolean;
  openscap?: OpenSCAPPlan;
  caBundles: string[];
  /** The blueprint's transaction: packages, modules, @groups. */
  blueprintPackages: string[];
  enabledModules: string[];
  containers?: ContainersPlan;
  subscription?: SubscriptionPlan;
  /** The blueprint's own settings (what an ostree deployment writes: its commit has the image config's). */
  blueprint: { users: User[]; enabledServices: string[]; disabledServices: string[]; directories: FileNode[]; files: FileNode[]; mountpoints: string[] };
}

const uniq = (list: string[]) => [...new Set(list)];

/** A blueprint user as the users stage takes it (home without its trailing slash, password crypted). */
export function stageUser(u: ReturnType<typeof blueprintUsers>[number], seed: string | number | bigint): User {
  const password = u.password ? cryptPassword(u.password, saltOf(new SeededRandom(`${seed}:password:${u.name}`).bytes(16))) : undefined;
  return {
    name: u.name,
    ...(u.description !== undefined ? { description: u.description } : {}),
    ...(password ? { password } : {}),
    ...(u.key ? { key: u.key } : {}),
    ...(u.home ? { home: u.home } : {}),
    ...(u.shell ? { shell: u.shell } : {}),
    ...(u.groups?.length ? { groups: [...u.groups] } : {}),
    ...(u.uid !== undefined ? { uid: u.uid } : {}),
    ...(u.gid !== undefined ? { gid: u.gid } : {}),
    ...(u.expiredate !== undefined ? { expiredate: u.expiredate } : {}),
    ...(u.force_password_reset ? { force_password_reset: true } : {}),
  } as User;
}

function firewallOptions(fw: NonNullable<Customizations['firewall']>): Record<string, unknown> {
  return {
    ...(fw.ports?.length ? { ports: [...fw.ports] } : {}),
    ...(fw.services?.enabled?.length ? { enabled_services: [...fw.services.enabled] } : {}),
    ...(fw.services?.disabled?.length ? { disabled_services: [...fw.services.disabled] } : {}),
    ...(fw.zones?.length ? { zones: fw.zones.map((z) => ({ name: z.name!, sources: [...(z.sources ?? [])] })) } : {}),
  };
}

/** The image config's sshd options with the blueprint's on top (sshd.config is created when the config has none: see DIFFERENCES.yaml). */
function sshdOptions(config: ImageConfig, c: Customizations): Record<string, unknown> | undefined {
  const base = config.sshd_config as { config?: Record<string, unknown> } | undefined;
  const s = c.sshd;
  if (!s || Object.values(s).every((v) => v === undefined)) return base;
  const merged: Record<string, unknown> = { ...(base?.config ?? {}) };
  if (s.password_authentication !== undefined) merged.PasswordAuthentication = s.password_authentication;
  if (s.kbd_interactive_authentication !== undefined) merged.ChallengeResponseAuthentication = s.kbd_interactive_authentication;
  if (s.client_alive_interval !== undefined) merged.ClientAliveInterval = s.client_alive_interval;
  if (s.permit_root_login !== undefined) merged.PermitRootLogin = s.permit_root_login;
  return { ...(base ?? {}), config: merged };
}

/** The image config's RHSM options (with or without a subscription) with the blueprint's fields on top. */
function rhsmOptions(config: ImageConfig, c: Customizations, subscribed: boolean): Record<string, unknown> | undefined {
  const base = structuredClone(config.rhsm_config?.[subscribed ? 'with-subscription' : 'no-subscription'] as Record<string, Record<string, Record<string, unknown>>> | undefined);
  const bp = c.rhsm?.config;
  if (!bp) return base;
  const out = base ?? {};
  const set = (section: string, sub: string, key: string, value: boolean | undefined) => {
    if (value === undefined) return;
    out[section] ??= {};
    out[section][sub] = { ...(out[section][sub] ?? {}), [key]: value };
  };
  set('dnf-plugins', 'product-id', 'enabled', bp.dnf_plugins?.product_id?.enabled);
  set('dnf-plugins', 'subscription-manager', 'enabled', bp.dnf_plugins?.subscription_manager?.enabled);
  set('subscription-manager', 'rhsm', 'manage_repos', bp.subscription_manager?.rhsm?.manage_repos);
  set('subscription-manager', 'rhsm', 'auto_enable_yum_plugins', bp.subscription_manager?.rhsm?.auto_enable_yum_plugins);
  set('subscription-manager', 'rhsmcertd', 'auto_registration', bp.subscription_manager?.rhsmcertd?.auto_registration);
  return Object.keys(out).length ? out : undefined;
}

/** A blueprint node's mode as the image-config nodes carry it. */
const node = <T extends { path: string; mode?: string; user?: string | number; group?: string | number; ensure_parents?: boolean }>(n: T): FileNode =>
  ({ path: n.path, ...(n.mode !== undefined ? { mode: n.mode } : {}), ...(n.user !== undefined ? { user: n.user } : {}), ...(n.group !== undefined ? { group: n.group } : {}), ...(n.ensure_parents ? { ensure_parents: true } : {}) }) as FileNode;

export function osSettings(image: ResolvedImage, blueprint: Blueprint, seed: string | number | bigint, subscription?: Subscription): OsSettings {
  const config = image.imageConfig;
  const c: Customizations = blueprint.customizations ?? {};
  const sub = subscription ? subscriptionPlan(subscription, { ostree: image.ostree !== undefined, permissiveRhc: config.permissive_rhc ?? false }) : undefined;
  const containers = containersPlan(blueprint.containers, c['containers-storage']?.['destination-path'], image.ostree !== undefined);
  const bootable = image.bootable || image.ostree !== undefined;
  const ntp = c.timezone?.ntpservers ?? [];
  const repos = customRepositories(c.repositories);
  const openscap = c.openscap ? openscapPlan(c.openscap, config.default_oscap_datastream as string | undefined) : undefined;
  // anaconda ISOs create the blueprint's users from their kickstart; the simplified installer writes a disk that has them
  const kickstart = image.bootIso && image.kind !== 'ostree_simplified_installer';
  const bpUsers = kickstart ? [] : blueprintUsers(c).map((u) => stageUser(u, seed));
  const bpDirectories = (c.directories ?? []).map(node);
  const bpFiles = (c.files ?? []).map((f) => ({ ...node(f), data: f.data ?? '' }) as FileNode);
  return {
    config,
    // a type's own kernel (UKIs) cannot be replaced (supported options keep kernel.name off those types)
    ...(bootable ? { kernelName: config.default_kernel_name ?? c.kernel?.name ?? 'kernel' } : {}),
    kernelOptions: bootable ? [...(config.kernel_options ?? []), ...(c.kernel?.append ? [c.kernel.append] : [])] : [],
    ...((c.locale?.languages?.[0] ?? config.locale) !== undefined ? { language: c.locale?.languages?.[0] ?? config.locale } : {}),
    ...(c.locale?.keyboard ? { keyboard: { keymap: c.locale.keyboard } } : config.keyboard !== undefined ? { keyboard: config.keyboard } : {}),
    ...((c.hostname ?? config.hostname) !== undefined ? { hostname: c.hostname ?? config.hostname } : {}),
    ...((c.timezone?.timezone ?? config.timezone) !== undefined ? { timezone: c.timezone?.timezone ?? config.timezone } : {}),
    ...(ntp.length ? { chrony: { servers: ntp.map((hostname) => ({ hostname })) } } : config.time_synchronization ? { chrony: config.time_synchronization } : {}),
    // an installer's payload has no users: they go into its kickstart
    users: kickstart ? [] : [...bpUsers, ...(config.users ?? [])],
    groups: kickstart ? [] : (c.group ?? []).map((g) => ({ name: g.name, ...(g.gid !== undefined ? { gid: g.gid } : {}) })),
    kickstartUsers: kickstart ? blueprintUsers(c).map((u) => stageUser(u, seed)) : [],
    kickstartGroups: kickstart ? (c.group ?? []).map((g) => ({ name: g.name, ...(g.gid !== undefined ? { gid: g.gid } : {}) })) : [],
    ...(c.firewall ? { firewall: firewallOptions(c.firewall) } : config.firewall ? { firewall: config.firewall } : {}),
    enabledServices: uniq([...(config.enabled_services ?? []), ...(c.services?.enabled ?? []), ...(sub?.services ?? []), ...image.environment.services]),
    disabledServices: uniq([...(config.disabled_services ?? []), ...(c.services?.disabled ?? [])]),
    maskedServices: uniq([...(config.masked_services ?? []), ...(c.services?.masked ?? [])]),
    selinux: !config.no_selinux,
    ...(() => {
      const sshd = sshdOptions(config, c);
      return sshd ? { sshd } : {};
    })(),
    ...(() => {
      const rhsm = rhsmOptions(config, c, sub !== undefined);
      return rhsm ? { rhsm } : {};
    })(),
    setReleasever: c.dnf?.config?.set_releasever ?? false,
    yumRepos: [...((config.yum_repos ?? []) as Record<string, unknown>[]), ...repos.stages],
    gpgkeyFiles: [...(config.gpgkey_files ?? []), ...(c.rpm?.import_keys?.files ?? [])],
    directories: [...bpDirectories, ...(openscap ? [{ path: OSCAP_DATA_DIR, ensure_parents: true } as FileNode] : []), ...(config.directories ?? [])],
    files: [...bpFiles, ...repos.keyFiles, ...(config.files ?? [])],
    fips: c.fips ?? false,
    ...(openscap ? { openscap } : {}),
    caBundles: [...(c.cacerts?.pem_certs ?? [])],
    blueprintPackages: blueprintPackages(blueprint),
    enabledModules: (blueprint.enabled_modules ?? []).map((m) => `${m.name}:${m.stream}`),
    ...(containers ? { containers } : {}),
    ...(sub ? { subscription: sub } : {}),
    blueprint: {
      users: bpUsers,
      enabledServices: uniq(c.services?.enabled ?? []),
      disabledServices: uniq(c.services?.disabled ?? []),
      directories: bpDirectories,
      files: bpFiles,
      mountpoints: (c.filesystem ?? []).map((f) => f.mountpoint),
    },
  };
}

/**
 * The os pipeline's package chain: the image's own set (platform, kernel, environment, file
 * system tools, the type's packages), then what the configuration needs, then the blueprint's
 * packages (with its module streams) — each a transaction on top of the previous, as
 * osbuild/images chains them.
 */
export function osPackageChain(image: ResolvedImage, settings: OsSettings, pt: PartitionTable | undefined): PackageTransaction[] {
  const os = image.packageSets.os ?? { include: [], exclude: [] };
  const base: PackageTransaction = {
    include: uniq([...image.platform.packages, ...(settings.kernelName ? [settings.kernelName] : []), ...image.environment.packages, ...(pt ? tableTools(pt) : []), ...os.include]).sort(),
    exclude: [...os.exclude],
    install_weak_deps: settings.config.install_weak_deps ?? false,
  };
  const extra: string[] = [];
  if (settings.chrony) extra.push('chrony');
  if (settings.selinux) extra.push('selinux-policy-targeted');
  if (settings.openscap) extra.push('openscap-scanner', 'scap-security-guide', 'xz');
  if (settings.users.length || settings.groups.length || settings.config.lock_root_user) extra.push('shadow-utils', 'pam', 'passwd');
  if (settings.firewall) extra.push('firewalld');
  if (settings.config.versionlock_packages?.length) extra.push('dnf', 'python3-dnf-plugin-versionlock');
  if (settings.subscription) extra.push(...settings.subscription.packages);
  const chain = [base];
  if (extra.length) chain.push({ include: uniq(extra).sort(), exclude: [], install_weak_deps: false });
  if (settings.blueprintPackages.length) {
    chain.push({
      include: settings.blueprintPackages,
      exclude: [],
      install_weak_deps: false,
      blueprint: true,
      ...(settings.enabledModules.length ? { enable_modules: settings.enabledModules } : {}),
    });
  }
  return chain;
}

/** The users stage's (and the kickstart stage's) `users` map, by name. */
export function usersOptions(users: User[]): Record<string, Record<string, unknown>> {
  const entries: Record<string, Record<string, unknown>> = {};
  for (const u of users) {
    const { name, force_password_reset, ...rest } = u;
    entries[name] = { ...rest, ...(force_password_reset ? { force_password_reset } : {}) };
  }
  return Object.fromEntries(Object.entries(entries).sort(([a], [b]) => (a < b ? -1 : 1)));
}

export function usersStage(users: User[]): Stage {
  return stage('org.osbuild.users', { users: usersOptions(users) });
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

/** The image config's dnf.config, with releasever set when the config or the blueprint asks (a stage of its own when the config has none). */
function dnfConfigStage(image: ResolvedImage, settings: OsSettings): Stage | undefined {
  const dc = image.imageConfig.dnf_config;
  if (!dc && !settings.setReleasever) return undefined;
  const options = structuredClone((dc?.options ?? {}) as Record<string, unknown>);
  if (dc?.set_releasever_var || settings.setReleasever) {
    const variables = [...((options.variables as { name: string; value: string }[] | undefined) ?? [])];
    const i = variables.findIndex((v) => v.name === 'releasever');
    if (i >= 0) variables[i] = { name: 'releasever', value: image.distro.osVersion };
    else variables.push({ name: 'releasever', value: image.distro.osVersion });
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
        fips: settings.fips,
        ...(packages ? { ukiDirectVersion: packages.flat().find((p) => p.name === 'uki-direct')?.version ?? null } : {}),
      }
    : undefined;

  const stages: Stage[] = [];
  const cmdline = boot ? kernelCmdlineStage(boot) : undefined;
  if (cmdline) stages.push(cmdline);
  // dracut configuration is in place before the kernel's package runs dracut
  stages.push(...each('org.osbuild.dracut.conf', cfg.dracut_conf));

  // a new commit keeps the user and group ids of the commit it follows
  if (input.ostree?.parent) {
    addOstreeSource(sources, input.ostree.parent);
    stages.push(passwdStage(input.ostree.parent.checksum));
  }

  const rpmOptions: Record<string, unknown> = {};
  if (cfg.exclude_docs) rpmOptions.exclude = { docs: true };
  if (cfg.install_langs?.length) rpmOptions.install_langs = [...cfg.install_langs];
  if (image.distro.rpmkeysBinary) rpmOptions.rpmkeys = { bin_path: image.distro.rpmkeysBinary };
  if (input.ostree) {
    // the rpm database where rpm-ostree keeps it; no dracut in the rpm stage: rpm-ostree builds
    // the one initramfs of the commit (https://github.com/osbuild/images/issues/624)
    rpmOptions.ostree_booted = true;
    rpmOptions.dbpath = '/usr/share/rpm';
    rpmOptions.disable_dracut = true;
  }
  // UKIs are installed into the ESP: kernel-install must know where that is
  if (pt && platform.bootloader === 'uki') rpmOptions.kernel_install_env = { boot_root: bootRoot(pt, platform) };
  const rpm = rpmStages(packages, rpmOptions, sources);
  // keys shipped in packages (the release's gpg keys) are imported once every package is in
  if (settings.gpgkeyFiles.length) rpm[rpm.length - 1].options!['gpgkeys.fromtree'] = [...settings.gpgkeyFiles];
  stages.push(...rpm);

  if (!cfg.no_bls) stages.push(fixBlsStage(pt, platform));
  stages.push(...containerStages(settings.containers, input.containers, sources));
  if (settings.language) stages.push(stage('org.osbuild.locale', { language: settings.language }));
  if (settings.keyboard) stages.push(stage('org.osbuild.keymap', { ...settings.keyboard }));
  if (settings.hostname) stages.push(stage('org.osbuild.hostname', { hostname: settings.hostname }));
  if (settings.timezone) stages.push(stage('org.osbuild.timezone', { zone: settings.timezone }));
  if (settings.chrony) stages.push(stage('org.osbuild.chrony', settings.chrony));
  if (settings.groups.length) {
    stages.push(stage('org.osbuild.groups', { groups: Object.fromEntries(settings.groups.map((g) => [g.name, g.gid !== undefined ? { gid: g.gid } : {}])), force: true }));
  }
  if (cfg.lock_root_user) stages.push(stage('org.osbuild.users', { users: { root: { password: '!locked' } } }));
  if (settings.users.length && input.ostree) {
    // keys go in on first boot: home directories are in /var, which a commit does not carry
    stages.push(usersStage(settings.users.map(({ key: _key, ...u }) => u as User)), firstBootKeysStage(settings.users));
  } else if (settings.users.length) stages.push(usersStage(settings.users));
  stages.push(...one('org.osbuild.firewall', settings.firewall));
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
  const dnfConfig = dnfConfigStage(image, settings);
  if (dnfConfig) stages.push(dnfConfig);
  stages.push(...one('org.osbuild.dnf-automatic.config', cfg.dnf_automatic_config));
  stages.push(...each('org.osbuild.yum.repos', settings.yumRepos));
  stages.push(...one('org.osbuild.yum.config', cfg.yum_config));
  stages.push(...one('org.osbuild.gcp.guest-agent.conf', cfg.gcp_guest_agent_config));
  stages.push(...one('org.osbuild.sshd.config', settings.sshd));
  stages.push(...one('org.osbuild.insights-client.config', settings.subscription?.insightsConfig));
  stages.push(...one('org.osbuild.nm.conf', cfg.network_manager));
  stages.push(...one('org.osbuild.authconfig', cfg.authconfig));
  stages.push(...one('org.osbuild.pwquality.conf', cfg.pwquality));
  if (settings.subscription) {
    const sub = settings.subscription;
    stages.push(sub.unit, ...directoryStages(sub.directories), ...fileStages(sub.files, sources));
  }
  stages.push(...one('org.osbuild.rhsm', settings.rhsm));
  stages.push(...one('org.osbuild.waagent.conf', cfg.waagent_config));
  stages.push(...one('org.osbuild.udev.rules', cfg.udev_rules));
  if (boot && pt) {
    if (settings.fips) stages.push(fipsDracutStage(kernelVersion));
    if (boot.mountUnits) stages.push(...mountUnitStages(pt));
    else stages.push(fstabStage(pt));
    stages.push(...bootloaderStages(boot, sources));
  }
  // the journal outlives reboots on ostree systems (their /var persists)
  if (input.ostree) stages.push(stage('org.osbuild.systemd-journald', { filename: '10-persistent.conf', config: { Journal: { Storage: 'persistent' } } }));
  stages.push(...moduleStages(input.modules ?? [], sources));
  stages.push(...directoryStages(settings.directories));
  stages.push(...fileStages(settings.files, sources));
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
  if (settings.fips) stages.push(...fipsStages(), ...fileStages([FIPS_FILE], sources));
  // remediation changes what it finds: it runs last, before SELinux labels the tree
  if (settings.openscap) stages.push(...openscapStages(settings.openscap));
  stages.push(...one('org.osbuild.systemd.preset', cfg.presets && image.ostree ? { presets: cfg.presets } : undefined));
  if (settings.caBundles.length) {
    for (const bundle of settings.caBundles) stages.push(...fileStages(caAnchorFiles(bundle), sources));
    stages.push(updateCaTrustStage());
  }
  if (cfg.versionlock_packages?.length) stages.push(stage('org.osbuild.dnf4.versionlock', { add: cfg.versionlock_packages.map((n) => versionlockSpec(packages, n)) }));
  if (cfg.machine_id_uninitialized) stages.push(stage('org.osbuild.machine-id', { 'first-boot': 'yes' }));
  if (settings.selinux) {
    stages.push(stage('org.osbuild.selinux', { file_contexts: 'etc/selinux/targeted/contexts/files/file_contexts', ...(cfg.selinux_force_relabel ? { force_autorelabel: true } : {}) }));
  }
  if (input.ostree) {
    // the tree as rpm-ostree commits it: /etc to /usr/etc, passwd and group entries to /usr/lib
    stages.push(stage('org.osbuild.ostree.preptree', { etc_group_members: ['wheel', 'docker'] }));
    if (cfg.bootupd_gen_metadata) stages.push(stage('org.osbuild.bootupd.gen-metadata', {}));
  }
  return stages;
}

/** Writes the users' SSH keys on first boot (as osbuild/images' usersFirstBootOptions). */
function firstBootKeysStage(users: User[]): Stage {
  const commands: string[] = [];
  for (const u of users) {
    if (!u.key) continue;
    const ssh = `${u.name === 'root' ? '/var/roothome' : `/var/home/${u.name}`}/.ssh`;
    commands.push(`mkdir -p ${ssh}`, `sh -c 'echo ${JSON.stringify(u.key)} >> ${JSON.stringify(`${ssh}/authorized_keys`)}'`, `chown ${u.name}:${u.name} -Rc ${ssh}`);
  }
  commands.push('restorecon -rvF /var/home', 'restorecon -rvF /var/roothome');
  return stage('org.osbuild.first-boot', { commands, wait_for_network: false });
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
