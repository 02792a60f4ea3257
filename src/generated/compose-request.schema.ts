/* Generated from schemas/compose-request.schema.json by `npm run gen:types`. Do not edit. */

/**
 * At least one of baseurl, mirrorlist and metalink; when several are given, the first of them in that order is used (as osbuild-composer does).
 */
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
 * At least one of baseurl, mirrorlist and metalink; when several are given, the first of them in that order is used (as osbuild-composer does).
 */
export type Repository3 = {
  [k: string]: unknown;
} & {
  baseurl?: string;
  metalink?: string;
  mirrorlist?: string;
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
};
/**
 * A plain partition (type plain, or no type), a btrfs volume or an LVM volume group.
 */
export type Partition = FilesystemTyped | BtrfsVolume | VolumeGroup;

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
  /**
   * bootc options (koji-image-builder's `bootc`): a disk image is made from the bootable container `ref` with `bootc install to-filesystem`, a bootc-installer ISO boots anaconda from `ref` and installs `installer-payload-ref`, a bootc-generic-iso is a live ISO of `ref`; they apply to bootc image types only (raw, ami, qcow2, vmdk, vhd, gce, ova, bootc-installer, bootc-generic-iso and composer's names for them), and such a request names no distribution. Nothing is installed from repositories for these images: the request's repositories are not used (as in image-builder).
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
     * The bootable container a bootc ISO carries: bootc-installer installs it (required; bootc.ref is then the installer container, with anaconda), bootc-generic-iso puts it into its tree's containers-storage (optional); refused for disk types.
     */
    'installer-payload-ref'?: string;
    /**
     * The root file system when the container's install configuration names none (or to override it).
     */
    'default-fs'?: 'ext4' | 'xfs' | 'btrfs';
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
 * osbuild-composer's cloud API Customizations (a compose request's `customizations`), every field. Kiln turns them into a blueprint as composer's GetBlueprintFromCustomizations does (users → customizations.user, groups → customizations.group, custom_repositories → customizations.repositories, fips.enabled → customizations.fips, filesystem min_size → minsize, containers tls_verify → tls-verify); subscription and partitioning_mode become build options and payload_repositories image-request repositories, as in composer. Each image type takes the customizations its osbuild/images definition supports: another is refused (400) naming the field. Stricter than composer: objects take no unknown fields (composer drops them silently).
 */
export interface Customizations {
  /**
   * Container images to embed into the image (blueprint `containers`).
   */
  containers?: Container[];
  /**
   * Directories to create in the image (blueprint customizations.directories).
   */
  directories?: Directory[];
  /**
   * Files to create in the image (blueprint customizations.files).
   */
  files?: File[];
  subscription?: Subscription;
  /**
   * Extra packages (blueprint `packages`), depsolved in their own transaction on top of the image type's, with the payload repositories too.
   */
  packages?: string[];
  /**
   * Module streams to enable for the extra packages (blueprint `enabled_modules`).
   */
  enabled_modules?: Module[];
  /**
   * Users to create (blueprint customizations.user).
   */
  users?: User[];
  /**
   * Extra repositories for the packages of `packages` only (not the build root, not the image type's own packages); added to every image request's repositories for its package set `blueprint`, and not written into the image.
   */
  payload_repositories?: Repository3[];
  /**
   * Repositories written to /etc/yum.repos.d/ in the image (blueprint customizations.repositories), with inline gpg keys as files under /etc/pki/rpm-gpg. As in osbuild-composer (whatever its document says) they are not used to depsolve: give repositories for the build in the image request or payload_repositories.
   */
  custom_repositories?: CustomRepository[];
  openscap?: OpenSCAP;
  /**
   * Minimum sizes of mount points on the image type's own partition table (blueprint customizations.filesystem); new mount points go on LVM or new partitions as partitioning_mode says.
   */
  filesystem?: Filesystem[];
  services?: Services;
  /**
   * The image's hostname.
   */
  hostname?: string;
  kernel?: Kernel;
  /**
   * User groups to create (blueprint customizations.group; package groups are a blueprint's `groups`).
   */
  groups?: Group[];
  timezone?: Timezone;
  locale?: Locale;
  firewall?: FirewallCustomization;
  /**
   * The disk a simplified installer writes the image to (e.g. /dev/sda); image types other than simplified installers do not take it.
   */
  installation_device?: string;
  fdo?: FDO;
  ignition?: Ignition;
  /**
   * How filesystem customizations change the image type's partition table: auto-lvm (the default) converts it to LVM only when new mount points are added, lvm always, raw never (new mount points get partitions). A build option, as in osbuild-composer; raw and lvm are refused for image types without a disk.
   */
  partitioning_mode?: 'raw' | 'lvm' | 'auto-lvm';
  fips?: FIPS;
  installer?: Installer;
  rpm?: RPMCustomization;
  rhsm?: RHSMCustomization;
  cacerts?: CACertsCustomization;
  disk?: Disk;
}
export interface Container {
  /**
   * Reference of the container image to embed (registry.example.com/image:tag).
   */
  source: string;
  /**
   * The name the image gets in the image's container storage (default: source).
   */
  name?: string;
  /**
   * Verify the registry's TLS certificate (blueprint tls-verify).
   */
  tls_verify?: boolean;
}
export interface Directory {
  /**
   * Absolute, canonical path of the directory.
   */
  path: string;
  /**
   * Permissions in octal ("0755").
   */
  mode?: string;
  /**
   * A user or group: a name, or a numeric id.
   */
  user?: string | number;
  /**
   * A user or group: a name, or a numeric id.
   */
  group?: string | number;
  /**
   * Create missing parent directories too.
   */
  ensure_parents?: boolean;
}
export interface File {
  /**
   * Absolute, canonical path of the file.
   */
  path: string;
  /**
   * Permissions in octal ("0644").
   */
  mode?: string;
  /**
   * A user or group: a name, or a numeric id.
   */
  user?: string | number;
  /**
   * A user or group: a name, or a numeric id.
   */
  group?: string | number;
  /**
   * The file's content (empty when absent).
   */
  data?: string;
  /**
   * Create the file's directory (and its parents) when missing: Kiln adds it to the directories (osbuild-composer accepts this field and ignores it).
   */
  ensure_parents?: boolean;
}
/**
 * Registering the image with Red Hat Subscription Management (and Insights or rhc) on its first boot: osbuild-composer's request-level customizations.subscription, field for field (its Subscription schema). A build option, not a blueprint field. The activation key is written into the image, as osbuild-composer does; Kiln never logs it.
 */
export interface Subscription {
  /**
   * The organization id to register to.
   */
  organization: string;
  /**
   * The activation key (a secret: it ends up in the image's /etc/osbuild-subscription-register.env until first boot).
   */
  activation_key: string;
  /**
   * The subscription server's host name (subscription-manager config --server.hostname); empty for the default.
   */
  server_url: string;
  /**
   * The content base URL given to subscription-manager register --baseurl.
   */
  base_url: string;
  /**
   * Register with Insights as well (insights-client --register).
   */
  insights: boolean;
  /**
   * Register with rhc connect, which always enables Insights.
   */
  rhc?: boolean;
  /**
   * Proxy for subscription-manager and insights-client: scheme://host:port or host:port (http assumed).
   */
  insights_client_proxy?: string;
  /**
   * A content template to register the system with, by UUID.
   */
  template_uuid?: string;
  /**
   * A content template to register the system with, by name (rhc only).
   */
  template_name?: string;
}
export interface Module {
  /**
   * The module (nodejs).
   */
  name: string;
  /**
   * The stream to enable (22).
   */
  stream: string;
}
export interface User {
  name: string;
  /**
   * SSH public key(s), one per line.
   */
  key?: string;
  /**
   * Groups the user is added to.
   */
  groups?: string[];
  /**
   * A crypt(3) hash ($6$, $5$, $2b$ …) kept as it is, or a plain-text password, which Kiln hashes (SHA-512 crypt) before the request is stored: no plain-text password is kept.
   */
  password?: string;
}
export interface CustomRepository {
  /**
   * Repository id (letters, digits, _ . - :).
   */
  id: string;
  name?: string;
  /**
   * The .repo file under /etc/yum.repos.d/ (default <id>.repo).
   */
  filename?: string;
  /**
   * Base URLs (blueprint baseurls).
   */
  baseurl?: string[];
  mirrorlist?: string;
  metalink?: string;
  enabled?: boolean;
  /**
   * Keys: ASCII-armored (written to /etc/pki/rpm-gpg) or URLs (blueprint gpgkeys).
   */
  gpgkey?: string[];
  /**
   * Verify package signatures (blueprint gpgcheck; needs gpgkey).
   */
  check_gpg?: boolean;
  /**
   * Verify the metadata signature (blueprint repo_gpgcheck).
   */
  check_repo_gpg?: boolean;
  /**
   * Verify the server's TLS certificate (blueprint sslverify).
   */
  ssl_verify?: boolean;
  priority?: number;
  module_hotfixes?: boolean;
}
/**
 * Remediates the image to an OpenSCAP profile of the distro's datastream (the image type's default one).
 */
export interface OpenSCAP {
  /**
   * An allow-listed profile of the distro: its full id or short name (cis, stig, …).
   */
  profile_id: string;
  /**
   * The Insights compliance policy (a UUID) the profile belongs to.
   */
  policy_id?: string;
  tailoring?: OpenSCAPTailoring;
  json_tailoring?: OpenSCAPJSONTailoring;
}
/**
 * Rules to select and unselect on top of the profile (not with json_tailoring).
 */
export interface OpenSCAPTailoring {
  selected?: string[];
  unselected?: string[];
}
/**
 * A JSON tailoring file in the image (e.g. from `files`) and the tailored profile's id (not with tailoring).
 */
export interface OpenSCAPJSONTailoring {
  profile_id: string;
  filepath: string;
}
export interface Filesystem {
  /**
   * The mount point (/var, /home, …).
   */
  mountpoint: string;
  /**
   * Minimum size in bytes (blueprint minsize).
   */
  min_size: number;
}
export interface Services {
  /**
   * Units to enable.
   *
   * @minItems 1
   */
  enabled?: [string, ...string[]];
  /**
   * Units to disable.
   *
   * @minItems 1
   */
  disabled?: [string, ...string[]];
  /**
   * Units to mask.
   *
   * @minItems 1
   */
  masked?: [string, ...string[]];
}
export interface Kernel {
  /**
   * The kernel package (kernel-debug); image types with their own kernel do not take it.
   */
  name?: string;
  /**
   * Appended to the kernel command line.
   */
  append?: string;
}
export interface Group {
  /**
   * The group's name.
   */
  name: string;
  /**
   * Its id (default: the next free one).
   */
  gid?: number;
}
export interface Timezone {
  /**
   * The time zone (Europe/Prague).
   */
  timezone?: string;
  /**
   * NTP servers for chrony (replacing the image type's).
   */
  ntpservers?: string[];
}
export interface Locale {
  /**
   * Locales; the first is the system's (as in osbuild/images, only the first is set).
   */
  languages?: string[];
  /**
   * The console keymap (us).
   */
  keyboard?: string;
}
export interface FirewallCustomization {
  /**
   * Ports or ranges with their protocol to open (22:tcp, 8000-8080:udp, imap:tcp).
   */
  ports?: string[];
  services?: {
    /**
     * firewalld services to allow.
     */
    enabled?: string[];
    /**
     * firewalld services to block.
     */
    disabled?: string[];
  };
}
/**
 * FIDO Device Onboard for simplified installers: the manufacturing server and exactly one of the DIUN public key fields.
 */
export interface FDO {
  manufacturing_server_url?: string;
  diun_pub_key_insecure?: string;
  diun_pub_key_hash?: string;
  diun_pub_key_root_certs?: string;
  di_mfg_string_type_mac_iface?: string;
}
/**
 * Ignition for simplified installers and bootc disks: an embedded config or a first-boot URL, not both.
 */
export interface Ignition {
  embedded?: {
    /**
     * The Ignition config, base64-encoded.
     */
    config: string;
  };
  firstboot?: {
    /**
     * The provisioning URL fetched on first boot.
     */
    url: string;
  };
}
export interface FIPS {
  /**
   * Build the image in FIPS mode (blueprint customizations.fips).
   */
  enabled?: boolean;
}
/**
 * Kickstart options of installer image types.
 */
export interface Installer {
  /**
   * Install without asking.
   */
  unattended?: boolean;
  /**
   * Users (and %groups) that may sudo without a password.
   */
  'sudo-nopasswd'?: string[];
}
export interface RPMCustomization {
  import_keys?: {
    /**
     * Key files in the image to import into its rpm database.
     */
    files?: string[];
  };
}
/**
 * subscription-manager's configuration in the image, on top of the image type's.
 */
export interface RHSMCustomization {
  config?: {
    dnf_plugins?: {
      product_id?: Enabled;
      subscription_manager?: Enabled;
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
}
export interface Enabled {
  enabled?: boolean;
}
export interface CACertsCustomization {
  /**
   * PEM certificates (or bundles) to trust, added to the image's CA anchors.
   */
  pem_certs: string[];
}
/**
 * The whole partition table (instead of filesystem): the boot partitions the platform needs are added, then these.
 */
export interface Disk {
  /**
   * The partition table type (default: the image type's).
   */
  type?: 'gpt' | 'dos';
  /**
   * A size with a unit ("2 GiB", "500 MiB"), or bytes.
   */
  minsize?: string;
  partitions: Partition[];
}
export interface FilesystemTyped {
  type?: 'plain';
  /**
   * Partition type: a GUID on GPT, 2 hex digits on DOS (default: from the mount point).
   */
  part_type?: string;
  /**
   * A size with a unit ("2 GiB", "500 MiB"), or bytes.
   */
  minsize?: string;
  /**
   * Empty for swap.
   */
  mountpoint?: string;
  label?: string;
  fs_type?: 'ext4' | 'xfs' | 'vfat' | 'swap';
}
export interface BtrfsVolume {
  type: 'btrfs';
  part_type?: string;
  /**
   * A size with a unit ("2 GiB", "500 MiB"), or bytes.
   */
  minsize?: string;
  subvolumes: {
    /**
     * The subvolume's path on the volume.
     */
    name: string;
    mountpoint: string;
  }[];
}
export interface VolumeGroup {
  type: 'lvm';
  part_type?: string;
  /**
   * Volume group name (generated when absent).
   */
  name?: string;
  /**
   * A size with a unit ("2 GiB", "500 MiB"), or bytes.
   */
  minsize?: string;
  logical_volumes: {
    name?: string;
    /**
     * A size with a unit ("2 GiB", "500 MiB"), or bytes.
     */
    minsize?: string;
    /**
     * Empty for swap.
     */
    mountpoint?: string;
    label?: string;
    fs_type?: 'ext4' | 'xfs' | 'vfat' | 'swap';
  }[];
}
/**
 * An image-builder blueprint (osbuild-composer's Blueprint, imageBuilderBuild's opts.blueprint, `kiln compose start --blueprint FILE`), instead of customizations; checked as osbuild/images checks it, errors naming the field (src/blueprint). Kiln takes the whole image-builder vocabulary (sshd, dnf, installer.kickstart, … which composer's document lacks) and does not require a name (composer does); composer's spelling containers[].tls_verify is taken for tls-verify; `distro`, when given, must be the compose's distribution; customizations.partitioning_mode is honoured (osbuild-composer ignores it on this path).
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
    /**
     * osbuild-composer's cloud API spelling of tls-verify (turned into it).
     */
    tls_verify?: boolean;
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
