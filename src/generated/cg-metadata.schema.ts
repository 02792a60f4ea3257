/* Generated from schemas/cg-metadata.schema.json by `npm run gen:types`. Do not edit. */

/**
 * Koji content-generator import metadata, version 0 (koji docs/source/content_generator_metadata.rst), in the form Kiln sends to CGImport. Stricter than the hub where the hub would fail late: every output has a size and a checksum the hub can verify, archives carry image.arch (or typeinfo.image.arch), buildroot ids are integers.
 */
export interface CgMetadata {
  metadata_version: 0;
  build: CgBuild;
  /**
   * @minItems 1
   */
  buildroots: [CgBuildroot, ...CgBuildroot[]];
  /**
   * @minItems 1
   */
  output: [CgOutput, ...CgOutput[]];
}
export interface CgBuild {
  name: string;
  /**
   * no '-' (koji.check_NVR)
   */
  version: string;
  /**
   * no '-' (koji.check_NVR)
   */
  release: string;
  epoch?: number | null;
  source: string;
  /**
   * epoch seconds
   */
  start_time: number;
  /**
   * epoch seconds
   */
  end_time: number;
  /**
   * a Koji user name
   */
  owner?: string;
  /**
   * the id CGInitBuild reserved
   */
  build_id?: number;
  /**
   * the Koji task the build belongs to; left out when there is none (the hub refuses null, and a task id it does not have)
   */
  task_id?: number;
  draft?: boolean;
  extra: {
    typeinfo: {
      /**
       * per image file name, what Kiln knows about the image
       */
      image: {
        [k: string]: CgImageInfo;
      };
    };
    /**
     * per manifest file name
     */
    osbuild_manifest?: {
      [k: string]: {};
    };
  };
}
export interface CgImageInfo {
  arch: string;
  boot_mode?: 'legacy' | 'uefi' | 'hybrid' | 'none';
  osbuild_version?: string;
  image_type?: string;
  osbuild_artifact?: {};
  /**
   * Where else the image was uploaded (e.g. AWS S3: {type, bucket, key, url}).
   */
  uploads?: {
    type: string;
  }[];
}
export interface CgBuildroot {
  id: number;
  host: {
    os: string;
    arch: string;
  };
  content_generator: {
    name: string;
    version: string;
  };
  container: {
    type: string;
    arch: string;
  };
  tools: {
    name: string;
    version: string;
  }[];
  components: CgRpmComponent[];
  extra?: {};
}
export interface CgRpmComponent {
  type: 'rpm';
  name: string;
  version: string;
  release: string;
  epoch: number | null;
  arch: string;
  sigmd5: string;
  signature: string | null;
}
export interface CgOutput {
  buildroot_id: number;
  /**
   * a base name not starting with '.'
   */
  filename: string;
  relpath?: string;
  subdir?: string;
  filesize: number;
  arch: string;
  checksum: string;
  checksum_type: 'md5' | 'sha256';
  /**
   * 'log' for logs; anything else is an archive whose Koji type comes from the file extension
   */
  type: string;
  components?: CgRpmComponent[];
  /**
   * An archive's btype as the legacy key `image` (what osbuild-composer sends, and what Pungi's osbuild phase reads back from the archive: extra.image.arch), or as typeinfo.image; not both (the hub refuses that).
   */
  extra?: (
    | {
        [k: string]: unknown;
      }
    | {
        [k: string]: unknown;
      }
  ) & {
    image?: CgImageInfo;
    typeinfo?: {
      image: CgImageInfo;
    };
  };
}
