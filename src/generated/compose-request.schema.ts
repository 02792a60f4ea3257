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
  /**
   * An image-builder blueprint (osbuild-composer's cloud API takes one too), instead of customizations: its distro, packages and customizations are converted to Kiln's customizations; a field Kiln cannot apply yet is refused with its name (src/blueprint).
   */
  blueprint?: {};
  /**
   * Kiln extension: the seed of the images' UUIDs and other random choices (image-builder's --seed), one for every image of the compose, as image-builder uses the same seed on every architecture. A decimal int64, as an integer or a string (JSON numbers beyond 2^53 lose digits). Default: a random one per compose.
   */
  seed?: number | string;
  /**
   * Kiln extension (image-builder's --preview): whether the distribution is a preview release; Kiln cannot change that, so a value other than the distribution's own is refused.
   */
  preview?: boolean;
  koji: KojiOptions;
}
export interface ImageRequest {
  architecture: string;
  image_type: string;
  /**
   * @minItems 1
   * @maxItems 64
   */
  repositories: [Repository, ...Repository[]];
  /**
   * Image size in bytes; 0 means the image type's own. Kiln does not grow an image beyond its type's size: a larger value is refused.
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
  /**
   * Kiln extension (Koji's failable arches): when this image fails the others are still imported, as long as one image succeeds.
   */
  failable?: boolean;
  /**
   * Kiln extension: the Koji file name of the image is <name>-<version>-<release>.<arch><suffix> instead of the image type's own extension (koji image-build's names, e.g. .vsphere.ova); Koji must have an archive type for it.
   */
  filename_suffix?: string;
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
  /**
   * Kiln extension: a scratch build. No Koji build is reserved or imported: the images, manifests and logs stay in the compose's upload directory (GET /composes/{id}/outputs names them) for the Koji task to attach (Kiln's builder plugin moves them into its task directory).
   */
  scratch?: boolean;
  /**
   * Kiln extension: the Koji user the build belongs to (as for Koji's own image builds, the task owner); default the content generator's user.
   */
  owner?: string;
}
