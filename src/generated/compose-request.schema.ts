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
  distribution: string;
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
