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
  blueprint?: Blueprint;
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
/**
 * Kiln extension: an image-builder blueprint (imageBuilderBuild's opts.blueprint), instead of customizations; checked as osbuild/images checks it, errors naming the field (src/blueprint).
 */
export interface Blueprint {
  name?: string;
  description?: string;
  version?: string;
  packages?: {
    name: string;
    version?: string;
  }[];
  modules?: {
    name: string;
    version?: string;
  }[];
  groups?: {
    name: string;
  }[];
  enabled_modules?: {
    name: string;
    stream: string;
  }[];
  containers?: {
    source: string;
    name?: string;
    'tls-verify'?: boolean;
    'local-storage'?: boolean;
  }[];
  distro?: string;
  architecture?: string;
  customizations?: {
    hostname?: string;
    kernel?: {
      name?: string;
      append?: string;
    };
    sshkey?: {
      user: string;
      key: string;
    }[];
    user?: {
      name: string;
      description?: string;
      password?: string;
      key?: string;
      home?: string;
      shell?: string;
      groups?: string[];
      uid?: number;
      gid?: number;
      expiredate?: number;
      force_password_reset?: boolean;
    }[];
    group?: {
      name: string;
      gid?: number;
    }[];
    timezone?: {
      timezone?: string;
      ntpservers?: string[];
    };
    locale?: {
      languages?: string[];
      keyboard?: string;
    };
    firewall?: {
      ports?: string[];
      services?: {
        enabled?: string[];
        disabled?: string[];
      };
      zones?: {
        name?: string;
        sources?: string[];
      }[];
    };
    services?: {
      enabled?: string[];
      disabled?: string[];
      masked?: string[];
    };
    filesystem?: {
      mountpoint: string;
      /**
       * Bytes, or a number with a unit ("2 GiB", "500 MiB").
       */
      minsize: number | string;
    }[];
    disk?: {
      type?: string;
      /**
       * Bytes, or a number with a unit ("2 GiB", "500 MiB").
       */
      minsize?: number | string;
      /**
       * Bytes, or a number with a unit ("2 GiB", "500 MiB").
       */
      start_offset?: number | string;
      sector_size?: number;
      partitions?: {
        type?: 'plain' | 'lvm' | 'btrfs';
        /**
         * Bytes, or a number with a unit ("2 GiB", "500 MiB").
         */
        minsize: number | string;
        part_type?: string;
        part_label?: string;
        part_uuid?: string;
        mountpoint?: string;
        label?: string;
        fs_type?: string;
        name?: string;
        logical_volumes?: {
          name?: string;
          /**
           * Bytes, or a number with a unit ("2 GiB", "500 MiB").
           */
          minsize: number | string;
          mountpoint?: string;
          label?: string;
          fs_type?: string;
        }[];
        subvolumes?: {
          name?: string;
          mountpoint?: string;
        }[];
      }[];
    };
    installation_device?: string;
    /**
     * How filesystem customizations change the type's table: raw partitions, lvm (always LVM), auto-lvm (LVM when new mount points are added; the default).
     */
    partitioning_mode?: '' | 'raw' | 'lvm' | 'auto-lvm';
    fdo?: {
      manufacturing_server_url?: string;
      diun_pub_key_insecure?: string;
      diun_pub_key_hash?: string;
      diun_pub_key_root_certs?: string;
      di_mfg_string_type_mac_iface?: string;
    };
    openscap?: {
      datastream?: string;
      profile_id?: string;
      tailoring?: {
        selected?: string[];
        unselected?: string[];
      };
      json_tailoring?: {
        profile_id?: string;
        filepath?: string;
      };
      policy_id?: string;
    };
    ignition?: {
      embedded?: {
        config?: string;
      };
      firstboot?: {
        url?: string;
        empty?: boolean;
      };
    };
    directories?: {
      path: string;
      mode?: string;
      user?: string | number;
      group?: string | number;
      ensure_parents?: boolean;
    }[];
    files?: {
      path: string;
      mode?: string;
      user?: string | number;
      group?: string | number;
      data?: string;
      uri?: string;
      ensure_parents?: boolean;
    }[];
    repositories?: {
      id: string;
      baseurls?: string[];
      gpgkeys?: string[];
      metalink?: string;
      mirrorlist?: string;
      name?: string;
      priority?: number;
      enabled?: boolean;
      gpgcheck?: boolean;
      repo_gpgcheck?: boolean;
      sslverify?: boolean;
      module_hotfixes?: boolean;
      filename?: string;
      install_from?: boolean;
    }[];
    fips?: boolean;
    installer?: {
      unattended?: boolean;
      'sudo-nopasswd'?: string[];
      kickstart?: {
        contents?: string;
      };
      modules?: {
        enable?: string[];
        disable?: string[];
      };
      bootloader?: {
        grub2?: {
          'menu-timeout'?: number;
        };
      };
      payload?: {
        flatpaks?: {
          force?: {
            registry?: {
              remote_name?: string;
              url?: string;
            };
            references?: string[];
          }[];
        };
      };
    };
    rpm?: {
      import_keys?: {
        files?: string[];
      };
    };
    rhsm?: {
      config?: {
        dnf_plugins?: {
          product_id?: {
            enabled?: boolean;
          };
          subscription_manager?: {
            enabled?: boolean;
          };
        };
        subscription_manager?: {
          rhsm?: {
            manage_repos?: boolean;
            auto_enable_yum_plugins?: boolean;
          };
          rhsmcertd?: {
            auto_registration?: boolean;
          };
        };
      };
    };
    cacerts?: {
      pem_certs: string[];
    };
    'containers-storage'?: {
      'destination-path'?: string;
    };
    firstboot?: {
      scripts?: {
        type: string;
        name?: string;
        ignore_failure?: boolean;
        after?: string[];
        before?: string[];
        contents?: string;
        command?: string;
        cacerts?: string[];
        job_template_url?: string;
        host_config_key?: string;
      }[];
    };
    dnf?: {
      config?: {
        set_releasever?: boolean;
      };
    };
    iso?: {
      application_id?: string;
      publisher?: string;
      volume_id?: string;
    };
    sshd?: {
      password_authentication?: boolean;
      client_alive_interval?: number;
      permit_root_login?: boolean | string;
      kbd_interactive_authentication?: boolean;
    };
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
