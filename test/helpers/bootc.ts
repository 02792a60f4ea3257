/** A bootable container as the depsolve job would have read it, for manifest tests (no registry). */
import type { BootcInfo } from '../../src/containers/index.js';

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

export const BUILD_CONTAINER = { source: 'quay.io/centos-bootc/centos-bootc', digest: h('c'), image_id: h('d'), local_name: 'quay.io/centos-bootc/centos-bootc:stream10', arch: 'amd64' };
