/**
 * The simplified installer (osbuild/images' OSTreeSimplifiedInstaller): the commit deployed
 * into the type's disk (ostree-deployment, image), compressed (xz), and a coreos-installer ISO
 * that writes it to the blueprint's installation_device:
 *
 *   coi-tree       the installer's root: its packages, .buildstamp, locale, the FDO root
 *                  certificates, the initrd with coreos-installer's dracut modules
 *   efiboot-tree   grub2's EFI boot files and configuration
 *   bootiso-tree   the compressed disk, the embedded Ignition config, efiboot.img, kernel and
 *                  initrd, isolinux (x86_64), the EFI tree
 *   bootiso        xorrisofs, then implantisomd5
 *
 * Everything the installer does is on the kernel command line (coreos.inst.*, fdo.*), the same
 * in the EFI and the BIOS menus.
 */
import { createHash } from 'node:crypto';
import type { Blueprint } from '../../blueprint/index.js';
import { InvalidInputError, KilnError } from '../../errors.js';
import type { ResolvedImage } from '../definitions/resolve.js';
import type { OsSettings, PackageTransaction } from '../stages/os.js';
import type { OstreeCommit } from '../stages/ostree.js';
import { rpmStages, type ManifestPackage, type Sources } from '../stages/rpm.js';
import { stage, type Pipeline, type Stage } from '../stages/stage.js';
import { anacondaBootPackages, anacondaKernel, bootisoPipeline, efibootImageStages, efibootTreePipeline, efiTreeStage, isolinuxStage, isoSpecOf } from './anaconda.js';
import { imagePipeline } from './disk.js';
import type { KindInput, KindPlan } from './index.js';
import { deploymentPipeline } from './ostree.js';
import { compressionPipeline, fileInput, treeInput } from './outputs.js';

export const COI_TREE = 'coi-tree';
/** The compressed disk on the ISO (coreos-installer finds it under /run/media/iso). */
const PAYLOAD = 'image.raw.xz';
/** Where the org.osbuild.fdo stage writes the DIUN root certificates (the initrd takes them). */
const FDO_ROOT_CERTS = '/fdo_diun_pub_key_root_certs.pem';
const FIELD = 'blueprint.customizations';

type Customizations = NonNullable<Blueprint['customizations']>;

/** A value the installer gets on the kernel command line: whitespace would split it into other arguments. */
function kernelValue(value: string, field: string): string {
  if (/[\s"]/.test(value)) throw new InvalidInputError(field, `${JSON.stringify(value)} goes on the installer's kernel command line: it may not hold whitespace or quotes`);
  return value;
}

/** The installer's kernel options: coreos-installer's, then FDO's (osbuild/images' order). */
function installerKernelOptions(label: string, c: Customizations): string[] {
  const device = c.installation_device;
  if (!device) throw new InvalidInputError(`${FIELD}.installation_device`, 'is required: the simplified installer writes the image to this disk');
  const opts = [
    'rd.neednet=1',
    'coreos.inst.crypt_root=1',
    `coreos.inst.isoroot=${label}`,
    `coreos.inst.install_dev=${kernelValue(device, `${FIELD}.installation_device`)}`,
    `coreos.inst.image_file=/run/media/iso/${PAYLOAD}`,
    'coreos.inst.insecure',
  ];
  const fdo = c.fdo;
  if (fdo?.manufacturing_server_url) {
    const f = (key: keyof typeof fdo) => kernelValue(fdo[key]!, `${FIELD}.fdo.${key}`);
    opts.push(`fdo.manufacturing_server_url=${f('manufacturing_server_url')}`);
    if (fdo.diun_pub_key_insecure) opts.push(`fdo.diun_pub_key_insecure=${f('diun_pub_key_insecure')}`);
    if (fdo.diun_pub_key_hash) opts.push(`fdo.diun_pub_key_hash=${f('diun_pub_key_hash')}`);
    if (fdo.diun_pub_key_root_certs) opts.push(`fdo.diun_pub_key_root_certs=${FDO_ROOT_CERTS}`);
    if (fdo.di_mfg_string_type_mac_iface) opts.push(`fdo.di_mfg_string_type_mac_iface=${f('di_mfg_string_type_mac_iface')}`);
  }
  return opts;
}

/**
 * What the ISO boots with, and checks of what only this kind knows: the first-boot Ignition URL
 * goes on the deployment's command line only where the type provisions with Ignition.
 */
function simplifiedBuild(image: ResolvedImage, blueprint: Blueprint) {
  const c = blueprint.customizations ?? {};
  if (c.ignition?.firstboot?.url && !image.imageConfig.ignition_platform) {
    throw new InvalidInputError(`${FIELD}.ignition.firstboot`, `is not applied by image type ${image.name} on ${image.distro.name}: its deployment does not run Ignition (upstream drops it); embed the config instead (ignition.embedded)`);
  }
  const iso = isoSpecOf(image);
  return { iso, kernelOpts: installerKernelOptions(iso.label, c), customizations: c };
}

/** coreos-installer's tree: boot loaders (syslinux always on x86_64), the platform's packages, biosdevname on x86_64, the type's installer set. */
function coiPackageChain(image: ResolvedImage): PackageTransaction[] {
  const set = image.packageSets.installer ?? { include: [], exclude: [] };
  const include = new Set([...anacondaBootPackages(image.arch, 'syslinux'), ...image.platform.packages, ...set.include]);
  if (image.arch === 'x86_64') include.add('biosdevname');
  return [{ include: [...include].sort(), exclude: [...set.exclude], install_weak_deps: true }];
}

export function simplifiedInstallerPlan(image: ResolvedImage, blueprint: Blueprint, _settings: OsSettings): KindPlan {
  simplifiedBuild(image, blueprint);
  return {
    os: 'none',
    packageChains: { [COI_TREE]: coiPackageChain(image) },
    // rpm for the rpm stages; upstream's CoreOSInstaller asks for lorax-templates-generic on every distro
    buildPackages: [...anacondaBootPackages(image.arch, 'syslinux'), 'rpm', 'lorax-templates-generic', ...(image.distro.rpmkeysBinary ? ['pqrpm'] : [])],
  };
}

/** Data the manifest carries inline (org.osbuild.inline), as a files input of it. */
function inlineInput(data: string, sources: Sources): { input: Record<string, unknown>; id: string } {
  const bytes = Buffer.from(data, 'utf8');
  const id = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  sources.inline.set(id, bytes.toString('base64'));
  return { id, input: { type: 'org.osbuild.files', origin: 'org.osbuild.source', references: [id] } };
}

function coiTreePipeline(image: ResolvedImage, c: Customizations, packages: ManifestPackage[][] | undefined, sources: Sources): Pipeline {
  const config = image.installerConfig;
  const rpmOptions: Record<string, unknown> = image.distro.rpmkeysBinary ? { rpmkeys: { bin_path: image.distro.rpmkeysBinary } } : {};
  const stages: Stage[] = [
    ...rpmStages(packages, rpmOptions, sources),
    // upstream marks the coreos-installer tree final even for pre-releases
    stage('org.osbuild.buildstamp', { arch: image.arch, product: image.distro.product, version: image.distro.osVersion, final: true, ...(image.variant ? { variant: image.variant } : {}) }),
    stage('org.osbuild.locale', { language: 'C.UTF-8' }),
  ];
  const modules = [
    ...(config.additional_dracut_modules ?? []),
    ...['systemd', 'systemd-initrd', 'fips', 'modsign', 'rescue', 'i18n', 'kernel-modules', 'kernel-modules-extra', 'network-manager', 'network', 'drm'],
    ...['coreos-installer', 'fdo', 'lvm', 'terminfo', 'fs-lib', 'dracut-systemd', 'debug', 'shutdown'],
    ...(image.arch === 'x86_64' ? ['biosdevname'] : []),
  ];
  let install = ['/.buildstamp'];
  const certs = c.fdo?.diun_pub_key_root_certs;
  if (certs) {
    stages.push(stage('org.osbuild.fdo', undefined, { inputs: { rootcerts: inlineInput(certs, sources).input } }));
    // as upstream: the initrd then installs the certificates instead of .buildstamp
    install = [FDO_ROOT_CERTS];
  }
  stages.push(
    stage('org.osbuild.dracut', {
      kernel: [anacondaKernel(packages)],
      modules,
      install,
      ...(config.additional_drivers?.length ? { add_drivers: [...config.additional_drivers] } : {}),
    }),
  );
  return { name: COI_TREE, build: 'name:build', stages };
}

export function simplifiedInstallerPipelines(input: KindInput): Pipeline[] {
  const { image, rng, sources, blueprint } = input;
  if (!blueprint) throw new KilnError('KILN_INTERNAL', `the ${image.kind} kind needs the blueprint`, {});
  const { iso, kernelOpts, customizations: c } = simplifiedBuild(image, blueprint);
  const commit = input.ostree?.commit;
  const packages = input.packages?.[COI_TREE];
  const out: Pipeline[] = [
    deploymentPipeline(input),
    // always a raw disk (the platform's image format is not used), always xz
    imagePipeline({ ...input, tree: 'ostree-deployment', ...(commit ? { bootFilesCommit: commit as OstreeCommit } : {}) }, 'disk.img'),
    compressionPipeline('xz', { pipeline: 'image', file: 'disk.img' }, PAYLOAD),
    coiTreePipeline(image, c, packages, sources),
    efibootTreePipeline(image, iso, { kernelOpts, defaultMenu: 0 }),
  ];
  const tree: Stage[] = [stage('org.osbuild.copy', { paths: [{ from: `input://file/${PAYLOAD}`, to: `tree:///${PAYLOAD}` }] }, { inputs: { file: fileInput('xz', PAYLOAD) } })];
  const embedded = c.ignition?.embedded?.config;
  if (embedded) {
    // coreos-installer's dracut module reads /ignition_config from the ISO's root
    const { id, input: inlinefile } = inlineInput(Buffer.from(embedded, 'base64').toString('utf8'), sources);
    tree.push(stage('org.osbuild.copy', { paths: [{ from: `input://inlinefile/${id}`, to: 'tree:///ignition_config' }] }, { inputs: { inlinefile } }));
  }
  tree.push(stage('org.osbuild.mkdir', { paths: [{ path: '/images' }, { path: '/images/pxeboot' }] }));
  tree.push(...efibootImageStages(rng));
  const kernel = anacondaKernel(packages);
  tree.push(
    stage(
      'org.osbuild.copy',
      {
        paths: [
          { from: `input://tree/boot/vmlinuz-${kernel}`, to: 'tree:///images/pxeboot/vmlinuz' },
          { from: `input://tree/boot/initramfs-${kernel}.img`, to: 'tree:///images/pxeboot/initrd.img' },
        ],
      },
      { inputs: { tree: treeInput(COI_TREE) } },
    ),
  );
  // BIOS boot on x86_64, whatever the definition's boot type says (as upstream)
  if (image.arch === 'x86_64') tree.push(isolinuxStage(image, kernelOpts, COI_TREE));
  tree.push(efiTreeStage('tree'));
  out.push({ name: 'bootiso-tree', build: 'name:build', stages: tree }, bootisoPipeline(image.filename, iso));
  return out;
}
