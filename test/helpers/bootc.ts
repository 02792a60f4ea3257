/** Bootable containers for tests: as the depsolve job reads one (manifest tests, no registry), and one to push to a test registry. */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { BootcInfo } from '../../src/containers/index.js';
import type { LayerEntry } from './registry.js';

const h = (c: string) => `sha256:${c.repeat(64)}`;

/** `arch`: containers for ppc64le and s390x have no EFI directory, so no UEFI vendor. */
export function bootcInfo(over: Partial<BootcInfo> = {}, arch = 'x86_64'): BootcInfo {
  const info: BootcInfo = {
    container: { source: 'quay.io/fedora/fedora-bootc', digest: h('a'), image_id: h('b'), local_name: 'quay.io/fedora/fedora-bootc:42', arch: 'amd64' },
    os_release: { id: 'fedora', version_id: '42', name: 'Fedora Linux' },
    default_fs: 'xfs',
    selinux_policy: 'targeted',
    uefi_vendor: 'fedora',
    size: 1_500_000_000,
    ...over,
  };
  if (arch === 'ppc64le' || arch === 's390x') delete info.uefi_vendor;
  return info;
}

/** A bootc installer's containers as the depsolve job reads them: an installer container (anaconda in it) with its kernel, the payload pinned. */
export function bootcInstallerInfo(over: Partial<BootcInfo> = {}, arch = 'x86_64'): BootcInfo {
  return bootcInfo(
    {
      container: { source: 'quay.io/kiln/anaconda-bootc', digest: h('1'), image_id: h('2'), local_name: 'quay.io/kiln/anaconda-bootc:42', arch: 'amd64' },
      kernel: '6.14.0-63.fc42.x86_64',
      payload: { source: 'quay.io/fedora/fedora-bootc', digest: h('a'), image_id: h('b'), local_name: 'quay.io/fedora/fedora-bootc:42', arch: 'amd64' },
      ...over,
    },
    arch,
  );
}

export const BUILD_CONTAINER = { source: 'quay.io/centos-bootc/centos-bootc', digest: h('c'), image_id: h('d'), local_name: 'quay.io/centos-bootc/centos-bootc:stream10', arch: 'amd64' };

export const OS_RELEASE = 'NAME="Fedora Linux"\nVERSION="42 (Forty Two)"\nID=fedora\nVERSION_ID=42\nVARIANT_ID=bootc\nPLATFORM_ID="platform:f42"\n';
/** A bootable container's layout, in three layers: a later install file wins, a whiteout removes one. */
export const BOOTC_LAYERS: LayerEntry[][] = [
  [
    { name: 'usr/', dir: true },
    { name: 'usr/lib/os-release', content: OS_RELEASE },
    { name: 'etc/os-release', symlink: '../usr/lib/os-release' },
    { name: 'etc/selinux/config', content: '# comment\nSELINUX=enforcing\nSELINUXTYPE=targeted\n' },
    { name: 'usr/lib/bootupd/updates/EFI/BOOT/', dir: true },
    { name: 'usr/lib/bootupd/updates/EFI/BOOT/BOOTX64.EFI', content: 'efi' },
    { name: 'usr/lib/bootupd/updates/EFI/fedora/', dir: true },
    { name: 'usr/lib/bootupd/updates/EFI/fedora/shimx64.efi', content: 'shim' },
    { name: 'usr/lib/bootc/install/00-base.toml', content: '[install.filesystem.root]\ntype = "ext4"\n' },
    { name: 'usr/lib/bootc/install/20-old.toml', content: '[install.filesystem.root]\ntype = "btrfs"\n' },
  ],
  [{ name: 'usr/lib/bootc/install/10-fs.toml', content: '[install]\nroot-fs-type = "ext4"\n[install.filesystem.root]\ntype = "xfs"\n' }],
  [{ name: 'usr/lib/bootc/install/.wh.20-old.toml', content: '' }],
];
/** An installer container (bootc.ref of a bootc-installer): a bootable container with a kernel; a second, whited-out kernel does not count. */
export const INSTALLER_LAYERS: LayerEntry[][] = [
  ...BOOTC_LAYERS,
  [
    { name: 'usr/lib/modules/6.13.0-1.fc42.x86_64/vmlinuz', content: 'old kernel' },
    { name: 'usr/lib/modules/6.14.0-63.fc42.x86_64/vmlinuz', content: 'kernel' },
    { name: 'usr/lib/modules/6.14.0-63.fc42.x86_64/modules.dep', content: '' },
    { name: 'usr/lib/modules/5.0-nokernel/modules.dep', content: '' },
  ],
  [{ name: 'usr/lib/modules/.wh.6.13.0-1.fc42.x86_64', content: '' }],
];

/**
 * A directory (under `dir`) holding a `skopeo` that treats the registry at `host` as insecure,
 * as an admin marks an internal registry without TLS in /etc/containers/registries.conf.d on a
 * worker. Debian's skopeo 1.9 reads no CONTAINERS_REGISTRIES_CONF, so this skopeo, first on
 * PATH, passes the file (Kiln and the osbuild stand-in run `skopeo` from PATH).
 */
export function insecureRegistrySkopeo(dir: string, host: string): string {
  const conf = path.join(dir, 'registries.conf');
  writeFileSync(conf, `[[registry]]\nlocation = "${host}"\ninsecure = true\n`);
  const bin = path.join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(path.join(bin, 'skopeo'), `#!/bin/sh\nexec /usr/bin/skopeo --registries-conf ${conf} "$@"\n`, { mode: 0o755 });
  return bin;
}
