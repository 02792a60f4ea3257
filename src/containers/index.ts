export { parseReference, referenceString, type ImageReference } from './reference.js';
export { classifySkopeo, ContainerResolveError, containerPlatform, resolveContainer, resolveContainers, type ContainerSource, type ContainerSpec, type ResolveFailure, type ResolveOptions } from './resolve.js';
