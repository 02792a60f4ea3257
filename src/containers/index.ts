export { parseReference, referenceString, type ImageReference } from './reference.js';
export { classifySkopeo, ContainerResolveError, containerPlatform, resolveContainer, resolveContainers, type ContainerSource, type ContainerSpec, type ResolveFailure, type ResolveOptions } from './resolve.js';
export { BOOTC_DISTRIBUTION, BOOTC_ROOT_FS, type BootcContainerInfo, type BootcInfo, type BootcIsoInfo, type BootcOptions, type BootcRootFs, type OsRelease } from './bootc.js';
export { readBootcContainer, resolveBootc } from './bootc-info.js';
export { flatpakCount, parseFlatpakRef, resolveFlatpaks, type FlatpakResolveOptions, type FlatpakSource, type FlatpakSpec } from './flatpak.js';
