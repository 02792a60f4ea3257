/**
 * Installer ISOs: image_installer (anaconda installs the os tree from a tarball on the ISO,
 * `liveimg`), ostree_installer (anaconda installs an ostree commit pulled into the ISO or its
 * root file system, `ostreesetup`), network_installer (boot.iso/netinst: anaconda installs from
 * the network) and live_installer (a live desktop with anaconda). The pieces are in
 * anaconda.ts; what each kind adds is its payload, its kernel command line, its kickstart and
 * which blueprint installer options it applies (the others are refused, naming the field).
 */
import type { Blueprint } from '../../blueprint/index.js';
import { InvalidInputError, KilnError } from '../../errors.js';
import type { ResolvedImage } from '../definitions/resolve.js';
import { fileStages } from '../stages/files.js';
import { usersOptions, type OsSettings } from '../stages/os.js';
import { pullInputs, type OstreeCommit } from '../stages/ostree.js';
import type { Sources } from '../stages/rpm.js';
import { containerSourceInput } from '../stages/containers.js';
import type { FlatpakSpec } from '../../containers/index.js';
import { stage, type Pipeline, type Stage } from '../stages/stage.js';
import {
  ANACONDA_TREE,
  KICKSTART_PATH,
  anacondaBuildPackages,
  anacondaKernel,
  anacondaPackageChain,
  anacondaTreePipeline,
  bootisoPipeline,
  bootisoTreePipeline,
  efibootTreePipeline,
  hasEfiBoot,
  isoSpecOf,
  rootfsImagePipeline,
  type AnacondaSpec,
  type AnacondaType,
  type BootMenu,
  type IsoSpec,
} from './anaconda.js';
import type { KindInput, KindPlan } from './index.js';
import { treeInput } from './outputs.js';

const MODULE_USERS = 'org.fedoraproject.Anaconda.Modules.Users';
const MODULE_SECURITY = 'org.fedoraproject.Anaconda.Modules.Security';

const TYPES: Record<string, AnacondaType> = { image_installer: 'payload', ostree_installer: 'payload', network_installer: 'netinst', live_installer: 'live' };

/** The ext4 image of a squashfs-ext4 root, in GiB (osbuild/images' sizes per installer). */
const ROOTFS_GIB: Record<string, number> = { image_installer: 5, ostree_installer: 4, network_installer: 5, live_installer: 8 };

/** Which blueprint installer options each kind applies; the rest are refused. */
const APPLIED: Record<AnacondaType, string[]> = {
  payload: ['unattended', 'sudo-nopasswd', 'kickstart', 'modules'],
  // boot.iso has no org.osbuild.anaconda stage: module choices would be lost
  netinst: ['unattended', 'sudo-nopasswd', 'kickstart'],
  // the live image has no kickstart and no anaconda module configuration
  live: [],
};

type Installer = NonNullable<NonNullable<Blueprint['customizations']>['installer']>;

/** The kickstart the ISO carries, as the blueprint asks for it. */
export interface KickstartPlan {
  /** Where the boot loader's inst.ks points (in the ISO's root). */
  path: string;
  users: OsSettings['kickstartUsers'];
  groups: OsSettings['kickstartGroups'];
  unattended: boolean;
  sudoNopasswd: string[];
  /** The blueprint's own kickstart text, included after Kiln's. */
  contents?: string;
  language?: string;
  keyboard?: string;
  timezone?: string;
}

/**
 * Where an ostree installer's commit goes (installer_config.payload): a repository in the ISO's
 * root or inside the installer's root file system; and which kickstart says `ostreesetup`, the
 * ISO's own or anaconda's interactive defaults in the installer tree.
 */
interface OstreePayload {
  location: 'iso' | 'rootfs';
  kickstart: 'root' | 'interactive-defaults';
}

interface InstallerBuild {
  spec: AnacondaSpec;
  iso: IsoSpec;
  menu: BootMenu;
  kickstart?: KickstartPlan;
  ostree?: OstreePayload;
}

const FIELD = 'blueprint.customizations.installer';
const nonEmpty = (v: unknown) => v !== undefined && v !== null && v !== false && !(Array.isArray(v) && v.length === 0) && !(typeof v === 'object' && !Array.isArray(v) && Object.values(v as object).every((x) => x === undefined));

/** Refuses the blueprint's installer options the kind does not apply (`applied`), naming the field. */
export function checkInstallerOptions(image: ResolvedImage, applied: string[], inst: Installer | undefined): void {
  if (!inst) return;
  for (const [key, value] of Object.entries(inst)) {
    if (!nonEmpty(value)) continue;
    if (!applied.includes(key)) throw new InvalidInputError(`${FIELD}.${key}`, `is not applied by image type ${image.name} (${image.kind}): Kiln refuses it rather than ignore it`);
  }
}

/** What the kickstart cannot say (checkBlueprint already refused kickstart text together with options that write kickstart lines). */
export function checkKickstart(k: KickstartPlan): void {
  const root = k.users.find((u) => u.name === 'root');
  // upstream's unattended kickstart locks root, dropping the password without a word
  if (root?.password !== undefined && k.unattended) {
    throw new InvalidInputError('blueprint.customizations.user', 'a password for "root" cannot be combined with installer.unattended (the unattended installation locks root)');
  }
  if (root) {
    const bad = (['expiredate', 'force_password_reset', 'gid', 'groups', 'home', 'shell', 'uid'] as const).filter((f) => root[f] !== undefined);
    if (bad.length) throw new InvalidInputError('blueprint.customizations.user', `the installer's kickstart cannot set ${bad.join(', ')} for user "root" (only its password and key)`);
  }
}

function installerBuild(image: ResolvedImage, blueprint: Blueprint, settings: OsSettings): InstallerBuild {
  const type = TYPES[image.kind];
  if (!type) throw new KilnError('KILN_INTERNAL', `${image.kind} is not an installer kind`, {});
  const c = blueprint.customizations ?? {};
  const inst = c.installer;
  checkInstallerOptions(image, APPLIED[type], inst);
  const config = image.installerConfig;
  const iso = isoSpecOf(image);
  const ostree: OstreePayload | undefined = image.kind === 'ostree_installer' ? { location: config.payload?.location ?? 'iso', kickstart: config.payload?.kickstart ?? 'root' } : undefined;
  const enabled = [...(config.enabled_anaconda_modules ?? []), ...(inst?.modules?.enable ?? [])];
  // the image installer's kickstart always creates users; an ostree installer's only when the blueprint has some
  if (type === 'payload' && (!ostree || settings.kickstartUsers.length || settings.kickstartGroups.length)) enabled.push(MODULE_USERS);
  if (settings.fips) enabled.push(MODULE_SECURITY);
  // the ostree installer's is its type's (the commit's locale is not known)
  const locale = type === 'payload' && !ostree ? settings.language : type === 'live' || ostree ? image.imageConfig.locale : c.locale?.languages?.[0];
  const spec: AnacondaSpec = {
    type,
    image,
    config,
    enabledModules: enabled,
    disabledModules: [...(inst?.modules?.disable ?? [])],
    locale: locale ?? 'C.UTF-8',
    ...(type === 'live' ? { selinux: 'targeted' as const } : {}),
  };

  let kickstart: KickstartPlan | undefined;
  if (type !== 'live') {
    const k: KickstartPlan = {
      path: KICKSTART_PATH,
      users: settings.kickstartUsers,
      groups: settings.kickstartGroups,
      unattended: inst?.unattended ?? false,
      sudoNopasswd: [...(inst?.['sudo-nopasswd'] ?? [])],
      ...(inst?.kickstart?.contents !== undefined ? { contents: inst.kickstart.contents } : {}),
      // the image installer's kickstart takes the payload's locale settings; boot.iso has none;
      // an ostree installer's takes the blueprint's (the commit's are not known)
      ...(ostree
        ? {
            ...(c.locale?.languages?.[0] !== undefined ? { language: c.locale.languages[0] } : {}),
            ...(c.locale?.keyboard ? { keyboard: c.locale.keyboard } : {}),
            ...(c.timezone?.timezone !== undefined ? { timezone: c.timezone.timezone } : {}),
          }
        : type === 'payload'
          ? { language: settings.language ?? '', ...(settings.keyboard?.keymap ? { keyboard: settings.keyboard.keymap } : {}), timezone: settings.timezone ?? '' }
          : {}),
    };
    checkKickstart(k);
    const empty =
      !k.unattended && !k.sudoNopasswd.length && k.contents === undefined && !k.users.length && !k.groups.length && k.language === undefined && k.keyboard === undefined && k.timezone === undefined;
    // boot.iso gets a kickstart only when the blueprint asks for one; so does an ostree installer
    // whose ostreesetup is in the interactive defaults
    if ((type === 'payload' && ostree?.kickstart !== 'interactive-defaults') || !empty) kickstart = k;
  }

  const label = iso.label;
  // the extra options for an unattended installation are the image installer's (upstream's drift between its kinds)
  const append = [...(kickstart?.unattended && !ostree ? (config.kickstart_unattended_extra_kernel_opts ?? []) : []), ...settings.kernelOptions];
  const kernelOpts =
    type === 'live'
      ? [`root=live:CDLABEL=${label}`, 'rd.live.image', 'quiet', 'rhgb', ...append]
      : [`inst.stage2=hd:LABEL=${label}`, ...(kickstart ? [`inst.ks=hd:LABEL=${label}:${kickstart.path}`] : []), ...(settings.fips ? ['fips=1'] : []), ...append];
  return { spec, iso, menu: { kernelOpts, defaultMenu: config.default_menu ?? 0 }, ...(kickstart ? { kickstart } : {}), ...(ostree ? { ostree } : {}) };
}

export function installerPlan(image: ResolvedImage, blueprint: Blueprint, settings: OsSettings): KindPlan {
  const { spec, iso } = installerBuild(image, blueprint, settings);
  return {
    os: image.kind === 'image_installer' ? { before: 'bootiso-tree' } : 'none',
    packageChains: { [ANACONDA_TREE]: anacondaPackageChain(spec, iso) },
    buildPackages: anacondaBuildPackages(spec, iso),
  };
}

/** The kickstart stage's options and the files it needs (the blueprint's text in an %include). */
export function kickstartStages(k: KickstartPlan, extra: Record<string, unknown>, sources: Sources): Stage[] {
  const users = usersOptions(k.users);
  let rootpw: Record<string, unknown> | undefined;
  if (users.root) {
    const { password, ...rest } = users.root;
    if (password !== undefined) rootpw = { iscrypted: true, password };
    if (rest.key !== undefined) users.root = rest;
    else delete users.root;
  }
  const options: Record<string, unknown> = {
    path: k.path,
    ...extra,
    ...(Object.keys(users).length ? { users } : {}),
    ...(k.groups.length ? { groups: Object.fromEntries(k.groups.map((g) => [g.name, g.gid !== undefined ? { gid: g.gid } : {}])) } : {}),
    ...(rootpw ? { rootpw } : {}),
  };
  const files: { path: string; data: string }[] = [];
  if (k.contents !== undefined) {
    // Kiln's kickstart becomes <name>-base.ks; the one the boot loader names includes it, then the blueprint's text
    const base = k.path.replace(/(\.[^./]*)?$/, (ext) => `-base${ext}`);
    options.path = base;
    files.push({ path: k.path, data: `%include /run/install/repo${base}\n${k.contents}` });
  }
  if (k.unattended) {
    Object.assign(options, {
      // unset in the plan: the defaults; set but empty (an image without a locale or zone): left out, as upstream does
      lang: k.language === undefined ? 'en_US.UTF-8' : k.language || undefined,
      keyboard: k.keyboard || 'us',
      timezone: k.timezone === undefined ? 'UTC' : k.timezone || undefined,
      display_mode: 'text',
      reboot: { eject: true },
      rootpw: { lock: true },
      zerombr: true,
      clearpart: { all: true, initlabel: true },
      autopart: { type: 'plain', fstype: 'xfs', nohome: true },
      network: [{ bootproto: 'dhcp', device: 'link', activate: true, onboot: 'on' }],
    });
    for (const key of ['lang', 'timezone']) if (options[key] === undefined) delete options[key];
  }
  const names = [...new Set(k.sudoNopasswd)].sort();
  if (names.length) {
    options['%post'] = [
      {
        commands: [
          ...names.flatMap((n) => [`echo -e "${n}\\tALL=(ALL)\\tNOPASSWD: ALL" > "/etc/sudoers.d/${n}"`, `chmod 0440 /etc/sudoers.d/${n}`]),
          'restorecon -rvF /etc/sudoers.d',
        ],
      },
    ];
  }
  return [stage('org.osbuild.kickstart', options), ...fileStages(files, sources)];
}

function requireInputs(input: KindInput): { blueprint: Blueprint; settings: OsSettings; sources: Sources } {
  if (!input.blueprint || !input.settings || !input.sources) throw new KilnError('KILN_INTERNAL', `the ${input.image.kind} kind needs the blueprint, the OS settings and the sources`, {});
  return { blueprint: input.blueprint, settings: input.settings, sources: input.sources };
}

/** What a kind puts into the ISO (bootiso-tree) and into the installer's root tree (after its packages). */
interface Payload {
  iso: Stage[];
  tree?: Stage[];
}

function installerPipelines(input: KindInput, payload: (b: InstallerBuild, sources: Sources) => Payload): Pipeline[] {
  const { image, rng } = input;
  const { blueprint, settings, sources } = requireInputs(input);
  const b = installerBuild(image, blueprint, settings);
  const packages = input.packages?.[ANACONDA_TREE];
  const stages = payload(b, sources);
  const out: Pipeline[] = [anacondaTreePipeline(b.spec, packages, sources, stages.tree)];
  if (b.iso.rootfsType === 'squashfs-ext4') out.push(rootfsImagePipeline(ROOTFS_GIB[image.kind]));
  if (hasEfiBoot(b.iso.bootType)) out.push(efibootTreePipeline(image, b.iso, b.menu));
  out.push(bootisoTreePipeline({ spec: b.spec, iso: b.iso, menu: b.menu, kernel: anacondaKernel(packages), rng, payloadStages: stages.iso }));
  out.push(bootisoPipeline(image.filename, b.iso));
  return out;
}

/** Where the image installer's payload is on the ISO, and how anaconda's kickstart finds it. */
const LIVEIMG = '/liveimg.tar.gz';

export function imageInstallerPipelines(input: KindInput): Pipeline[] {
  return installerPipelines(input, (b, sources) => ({
    iso: [
      stage('org.osbuild.tar', { filename: LIVEIMG }, { inputs: { tree: treeInput('os') } }),
      ...kickstartStages(b.kickstart!, { liveimg: { url: `file:///run/install/repo${LIVEIMG}` } }, sources),
    ],
  }));
}

/** The ostree repository on the ISO or in the installer's root (osbuild/images' Payload.Path). */
const OSTREE_REPO = '/ostree/repo';
/** Anaconda's defaults for an interactive installation (the installer tree's kickstart). */
const INTERACTIVE_DEFAULTS = '/usr/share/anaconda/interactive-defaults.ks';

/**
 * The commit pulled into a repository of its own, and `ostreesetup` pointing at it: in the ISO's
 * root (anaconda sees it under /run/install/repo) or in the installer's root file system, where
 * it is a bare-user repository so squashfs/erofs compress its files.
 */
export function ostreeInstallerPipelines(input: KindInput): Pipeline[] {
  const { image } = input;
  const commit = input.ostree?.commit;
  if (!commit) throw new KilnError('KILN_MANIFEST', `image type ${image.name} installs a commit, but the build has no resolved commit`, {});
  return installerPipelines(input, (b, sources) => {
    const where = b.ostree!;
    const pull = (mode?: 'bare-user') => [
      stage('org.osbuild.ostree.init', { path: OSTREE_REPO, ...(mode ? { mode } : {}) }),
      stage('org.osbuild.ostree.pull', { repo: OSTREE_REPO }, { inputs: pullInputs({ source: commit.checksum }, commit.ref) }),
    ];
    const url = where.location === 'iso' ? `file:///run/install/repo${OSTREE_REPO}` : `file://${OSTREE_REPO}`;
    const setup = { ostree: ostreeSetup(image, commit as OstreeCommit, url) };
    const tree = where.location === 'rootfs' ? pull('bare-user') : [];
    if (where.kickstart === 'interactive-defaults') tree.push(stage('org.osbuild.kickstart', { path: INTERACTIVE_DEFAULTS, ...setup }));
    tree.push(...flatpakStages(input.flatpaks, sources));
    const iso = where.location === 'iso' ? pull() : [];
    if (b.kickstart) iso.push(...kickstartStages(b.kickstart, where.kickstart === 'root' ? setup : {}, sources));
    return { iso, tree };
  });
}

/** Where anaconda's rpm-ostree payload looks for flatpaks to install: every ref of this repository. */
const FLATPAK_REPO = '/flatpak/repo';

/**
 * The installer's flatpaks in a repository of the installer tree (bare-user: squashfs/erofs
 * compress its files), one import per flatpak image, each pulled by the skopeo source.
 */
function flatpakStages(flatpaks: FlatpakSpec[] | undefined, sources: Sources): Stage[] {
  if (!flatpaks?.length) return [];
  return [
    stage('org.osbuild.ostree.init', { path: FLATPAK_REPO, mode: 'bare-user' }),
    ...flatpaks.map((f) =>
      stage('org.osbuild.flatpak.build-import-bundle.oci', { repository: `tree://${FLATPAK_REPO}` }, { inputs: { containers: containerSourceInput(f, sources) } }),
    ),
  ];
}

/** kickstart's `ostreesetup`: the type's os name and remote, no GPG check (the commit was pulled by checksum). */
function ostreeSetup(image: KindInput['image'], commit: OstreeCommit, url: string): Record<string, unknown> {
  return { osname: image.ostree?.name ?? '', remote: image.ostree?.remoteName ?? '', url, ref: commit.ref, gpg: false };
}

export function networkInstallerPipelines(input: KindInput): Pipeline[] {
  return installerPipelines(input, (b, sources) => ({ iso: b.kickstart ? kickstartStages(b.kickstart, {}, sources) : [] }));
}

export function liveInstallerPipelines(input: KindInput): Pipeline[] {
  return installerPipelines(input, () => ({ iso: [] }));
}
