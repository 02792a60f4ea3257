/**
 * The image request options Kiln honours, checked when a compose is created: whatever Kiln
 * cannot do is refused there with the field named (400), never accepted and dropped, and never
 * found out after a Koji build has been reserved.
 */
import { isBootcKind, ostreePlan, usesOstree } from '../osbuild/index.js';
import { parseReference } from '../containers/index.js';
import { InvalidInputError } from '../errors.js';
import type { ResolvedImage } from '../osbuild/index.js';
import type { ImageRequest, UploadOptions } from '../generated/compose-request.schema.js';
import type { KilnConfig } from '../generated/config.schema.js';
import { checkS3UploadOptions } from '../upload/index.js';

/** osbuild-composer's upload targets (its UploadTypes). */
type UploadTarget = 'aws' | 'aws.s3' | 'gcp' | 'azure' | 'container' | 'oci.objectstorage' | 'pulp.ostree';

const TARGET_NAMES: Record<UploadTarget, string> = {
  aws: 'AWS EC2 (an AMI)',
  'aws.s3': 'AWS S3',
  gcp: 'Google Cloud',
  azure: 'Azure',
  container: 'a container registry',
  'oci.objectstorage': 'OCI object storage',
  'pulp.ostree': 'Pulp',
};

/** Fields of osbuild-composer's other targets' upload options, and whose they are. */
const FOREIGN_FIELDS: Record<string, UploadTarget[]> = {
  share_with_accounts: ['aws', 'gcp'],
  snapshot_name: ['aws'],
  image_name: ['gcp', 'azure'],
  tenant_id: ['azure'],
  subscription_id: ['azure'],
  resource_group: ['azure'],
  location: ['azure'],
  hyper_v_generation: ['azure'],
  name: ['container'],
  tag: ['container'],
  basepath: ['pulp.ostree'],
  repository: ['pulp.ostree'],
  server_address: ['pulp.ostree'],
};

const S3_FIELDS = 'region, public, bucket, key_prefix';

/**
 * The target `upload_options` are for, as osbuild-composer picks it (its getDefaultTarget) from
 * the API's image type: an image type's own cloud, a registry for container images, S3 for
 * everything else. Kiln also takes osbuild/images' names (generic-ami, vhd, …), so the name asked
 * for, the canonical name and its aliases are all looked at.
 */
export function defaultUploadTarget(image: Pick<ResolvedImage, 'name' | 'kind' | 'aliases'>, requested = image.name): UploadTarget {
  const names = [requested, image.name, ...image.aliases];
  const any = (re: RegExp) => names.some((n) => re.test(n));
  if (any(/^(aws|ami|ec2)(-|$)/)) return 'aws';
  if (any(/^(gcp|gce)(-|$)/)) return 'gcp';
  if (any(/^azure(-|$)/)) return 'azure';
  if (names.includes('oci')) return 'oci.objectstorage';
  if (image.kind === 'container' || any(/-container$/)) return 'container';
  return 'aws.s3';
}

/** Refuses fields of other targets' upload options, and upload_targets, with a message saying why (runs before the schema's generic "not an allowed field"). */
export function checkUploadOptionFields(body: unknown): void {
  const requests = (body as { image_requests?: unknown; image_request?: unknown } | null) ?? {};
  const list = Array.isArray(requests.image_requests) ? requests.image_requests : requests.image_request ? [requests.image_request] : [];
  const prefix = (i: number) => (Array.isArray(requests.image_requests) ? `image_requests[${i}]` : 'image_request');
  list.forEach((ir, i) => {
    if ((ir as { upload_targets?: unknown } | null)?.upload_targets !== undefined) {
      throw new InvalidInputError(
        `${prefix(i)}.upload_targets`,
        `is not supported: Kiln imports the images into Koji and uploads a copy only to AWS S3, through upload_options (options: ${S3_FIELDS})`,
      );
    }
    const options = (ir as { upload_options?: unknown } | null)?.upload_options;
    if (!options || typeof options !== 'object' || Array.isArray(options)) return;
    for (const key of Object.keys(options)) {
      const targets = Object.prototype.hasOwnProperty.call(FOREIGN_FIELDS, key) ? FOREIGN_FIELDS[key] : undefined;
      if (!targets) continue;
      throw new InvalidInputError(
        `${prefix(i)}.upload_options.${key}`,
        `is an option of uploads to ${targets.map((t) => TARGET_NAMES[t]).join(' and ')}, which Kiln does not do; Kiln uploads to AWS S3 (options: ${S3_FIELDS})`,
      );
    }
  });
}

/**
 * bootc options: on bootc types only (which take nothing without them), refs that parse; an
 * installer payload on bootc installers only (where it is required, and a build container is not
 * taken: the installer container is the build root).
 */
function checkBootcOptions(ir: ImageRequest, image: ResolvedImage, field: string, named: string): void {
  const b = ir.bootc;
  if (!isBootcKind(image.kind)) {
    if (b) throw new InvalidInputError(`${field}.bootc`, `${named} is not a bootc image type (it is a ${image.kind} image), so bootc options do not apply to it`);
    return;
  }
  const installer = image.kind === 'bootc_installer';
  if (!b?.ref) throw new InvalidInputError(`${field}.bootc.ref`, installer ? `is required: ${named} boots the installer container bootc.ref` : `is required: ${named} is made from a bootable container`);
  for (const key of ['ref', 'build-ref', 'installer-payload-ref'] as const) {
    const ref = b[key];
    if (ref === undefined) continue;
    const parsed = parseReference(ref);
    if (typeof parsed === 'string') throw new InvalidInputError(`${field}.bootc.${key}`, `${JSON.stringify(ref)} ${parsed}`);
  }
  if (installer) {
    if (b['installer-payload-ref'] === undefined) throw new InvalidInputError(`${field}.bootc.installer-payload-ref`, `is required: ${named} installs this bootable container (bootc.ref is the installer, with anaconda)`);
    if (b['build-ref'] !== undefined) throw new InvalidInputError(`${field}.bootc.build-ref`, `cannot be used with ${named}: the installer container bootc.ref is its build root (as in image-builder)`);
  } else if (image.kind === 'bootc_generic_iso') {
    if (b['build-ref'] !== undefined) throw new InvalidInputError(`${field}.bootc.build-ref`, `cannot be used with ${named}: the container bootc.ref is its build root (image-builder ignores it)`);
  } else if (b['installer-payload-ref'] !== undefined) {
    throw new InvalidInputError(`${field}.bootc.installer-payload-ref`, `applies to bootc ISO image types (bootc-installer, bootc-generic-iso); ${named} is a disk image of bootc.ref itself`);
  }
}

export interface HonouredOptions {
  /** upload_options with the bucket filled in from the config when the request names none. */
  uploadOptions?: UploadOptions;
}

/**
 * Checks one image request's options against what Kiln does for its image type: ostree only on
 * ostree types (checked: refs, URLs, a URL where a disk needs one), size only for disk images (the disk grows to it),
 * upload_options only where the default target is S3, with a bucket.
 */
export function honouredOptions(ir: ImageRequest, image: ResolvedImage, field: string, s3: KilnConfig['s3'], ostreeFromCompose = false): HonouredOptions {
  // the name as asked for, with the canonical one when an alias was used: "aws (generic-ami)"
  const named = ir.image_type === image.name ? image.name : `${ir.image_type} (${image.name})`;
  // an empty object sets nothing; ostree types check their options (and defaults) here
  if (usesOstree(image)) ostreePlan(image, ir.ostree, `${field}.ostree`, ostreeFromCompose);
  else if (ir.ostree && Object.keys(ir.ostree).length) {
    throw new InvalidInputError(`${field}.ostree`, `${named} is not an ostree image type (it is a ${image.kind} image), so ostree options do not apply to it`);
  }
  checkBootcOptions(ir, image, field, named);
  if (ir.size !== undefined && ir.size > 0) {
    if (!Number.isSafeInteger(ir.size)) throw new InvalidInputError(`${field}.size`, `must be at most ${Number.MAX_SAFE_INTEGER}`);
    if (!image.partitionTable) {
      throw new InvalidInputError(`${field}.size`, `${named} images have no disk to size (it is a ${image.kind} image); give 0 or leave size out`);
    }
  }
  if (!ir.upload_options) return {};
  const target = defaultUploadTarget(image, ir.image_type);
  if (target !== 'aws.s3') {
    throw new InvalidInputError(
      `${field}.upload_options`,
      `${named} images upload to ${TARGET_NAMES[target]} (osbuild-composer's default target for them), which Kiln does not do; leave upload_options out (the image goes to Koji)`,
    );
  }
  const bucket = ir.upload_options.bucket ?? s3.bucket;
  if (!bucket) {
    throw new InvalidInputError(`${field}.upload_options.bucket`, 'is required: the request names no bucket and Kiln is configured without a default one (s3.bucket)');
  }
  const uploadOptions = { ...ir.upload_options, bucket };
  try {
    checkS3UploadOptions(uploadOptions, s3);
  } catch (err) {
    if (err instanceof InvalidInputError && err.field.startsWith('upload_options.')) {
      throw new InvalidInputError(`${field}.${err.field}`, err.message.slice(err.field.length + 2), { cause: err });
    }
    throw err;
  }
  return { uploadOptions };
}
