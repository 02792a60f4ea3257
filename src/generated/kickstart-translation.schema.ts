/* Generated from schemas/kickstart-translation.schema.json by `npm run gen:types`. Do not edit. */

/**
 * POST {API_BASE}/kickstart (Kiln's own): what a kickstart becomes for an image Kiln builds (osbuild runs no kickstart): the blueprint its commands and %packages translate to (Kiln's build vocabulary; plain-text passwords crypted), and line by line what was applied, what was not (no blueprint equivalent, or refused by the blueprint checks: %post above all) and what was ignored (installer-only commands).
 */
export interface KickstartTranslation {
  blueprint: Blueprint;
  applied: Line[];
  not_applied: Note[];
  ignored: Note[];
}
/**
 * An image-builder blueprint (osbuild/blueprint; TOML or JSON, the same keys): what a build adds to an image type. Kiln's single vocabulary for customizations: composer's compose-request customizations and blueprint, imageBuilderBuild's blueprint and `kiln compose --blueprint` are all turned into this.
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
export interface Line {
  line: number;
  text: string;
}
export interface Note {
  line: number;
  text: string;
  reason: string;
}
