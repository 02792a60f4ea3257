/* Generated from schemas/compose-request.schema.json by `npm run gen:types`. Do not edit. */

export type Repository = Repository1 & Repository2 & Repository1 & Repository2;
export type Repository1 =
  | {
      [k: string]: unknown;
    }
  | {
      [k: string]: unknown;
    }
  | {
      [k: string]: unknown;
    };
export type Url = string;

/**
 * Body of POST /api/image-builder-composer/v2/compose: the osbuild-composer cloud API ComposeRequest as Koji builder plugins send it. Kiln builds Koji composes, so `koji` is required.
 */
export interface ComposeRequest {
  /**
   * The distribution to build (fedora-43, rhel-9.6, centos-10, …). Required unless the image requests are bootc images (`bootc`), whose distribution is their container's; the two exclude each other, as in osbuild-composer.
   */
  distribution?: string;
  image_request?: ImageRequest;
  /**
   * @minItems 1
   * @maxItems 32
   */
  image_requests?: [ImageRequest, ...ImageRequest[]];
  customizations?: Customizations;
  koji: KojiOptions;
}
export interface ImageRequest {
  architecture: string;
  /**
   * osbuild-composer's image type names (guest-image, aws, aws-rhui, vsphere, …, mapped as composer maps them) or osbuild/images' names and aliases (generic-qcow2, minimal-raw-xz, …).
   */
  image_type: string;
  /**
   * @minItems 1
   * @maxItems 64
   */
  repositories: [Repository, ...Repository[]];
  /**
   * Disk size in bytes: the disk is at least this big (more when its partitions need more); 0 means the image type's default. Refused for image types without a disk.
   */
  size?: number;
  /**
   * ostree options; they apply to ostree image types only, and are refused for any other.
   */
  ostree?: {
    url?: string;
    ref?: string;
    parent?: string;
    contenturl?: string;
    rhsm?: boolean;
  };
  /**
   * bootc options (koji-image-builder's `bootc`): the image is made from the bootable container `ref` with `bootc install to-filesystem`; they apply to bootc image types only (raw, ami, qcow2, vmdk, vhd, gce, ova and composer's names for them), and such a request names no distribution. Nothing is installed from repositories for these images: the request's repositories are not used (as in image-builder).
   */
  bootc?: {
    /**
     * The bootable container (registry/repository:tag or @digest); resolved to its digest when the compose starts.
     */
    ref: string;
    /**
     * The container whose tree is the build root (default: ref).
     */
    'build-ref'?: string;
    /**
     * The container an installer image installs; bootc installer types only, which Kiln does not build yet (refused for disk types).
     */
    'installer-payload-ref'?: string;
    /**
     * The root file system when the container's install configuration names none (or to override it).
     */
    'default-fs'?: 'ext4' | 'xfs' | 'btrfs';
  };
  upload_options?: UploadOptions;
}
export interface Repository2 {
  baseurl?: Url;
  metalink?: Url;
  mirrorlist?: Url;
  gpgkey?: string;
  check_gpg?: boolean;
  check_repo_gpg?: boolean;
  ignore_ssl?: boolean;
  module_hotfixes?: boolean;
  rhsm?: boolean;
  /**
   * @maxItems 16
   */
  package_sets?: string[];
}
/**
 * Options of the image type's default upload target, as in osbuild-composer; Kiln uploads to AWS S3 (or an S3-compatible server) only, so these are osbuild-composer's AWSS3UploadOptions (region, public) and two fields of Kiln's own: bucket (default: the config's s3.bucket) and key_prefix. Image types whose default target is another (aws: an EC2 AMI; container types: a registry) and options of other targets are refused with the field named.
 */
export interface UploadOptions {
  region: string;
  bucket?: string;
  key_prefix?: string;
  public?: boolean;
}
/**
 * The subset of osbuild-composer cloud API image request customizations Kiln applies to an image (field names as in the cloud API).
 */
export interface Customizations {
  /**
   * Extra packages for the OS package set, depsolved in a transaction on top of the image type's own.
   */
  packages?: string[];
  users?: {
    name: string;
    /**
     * SSH public key(s), one per line.
     */
    key?: string;
    groups?: string[];
    /**
     * A crypt(3) hash ($6$, $5$, $y$ or $2b$); plain-text passwords are refused.
     */
    password?: string;
  }[];
  hostname?: string;
  timezone?: {
    timezone?: string;
  };
  kernel?: {
    /**
     * Appended to the kernel command line.
     */
    append?: string;
  };
  services?: {
    enabled?: string[];
    disabled?: string[];
  };
}
export interface KojiOptions {
  /**
   * The Koji hub's XML-RPC URL; must be a hub Kiln is configured for.
   */
  server: string;
  task_id: number;
  name: string;
  /**
   * No '-' (a Koji NVR rule).
   */
  version: string;
  /**
   * No '-' (a Koji NVR rule).
   */
  release: string;
}
