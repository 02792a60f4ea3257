export { builtinDefinitionsDir, ImageDefinitionError, loadCatalog, type Catalog, type LoadOptions } from './load.js';
export {
  checkCatalog,
  distroNames,
  imageCatalog,
  imageDefinitionOptions,
  resolveImage,
  supportedImages,
  useImageDefinitions,
  type Arch,
  type ImageChoice,
  type ResolvedDistro,
  type ResolvedImage,
  type ResolvedPlatform,
} from './resolve.js';
export { formatSize, parseSize } from './sizes.js';
