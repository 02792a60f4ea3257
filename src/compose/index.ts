export { checkCompose, createCompose, imageRequestsOf, normaliseHubUrl, planCompose, type CreateComposeOptions } from './create.js';
export { buildInputOf, composeJobGraph, imageFileName, JOB_TYPES, seedOf, type ImageBuildArgs, type DepsolveArgs, type OsbuildArgs, type KojiInitArgs, type KojiFinalizeArgs } from './graph.js';
export {
  API_BASE,
  loadCompose,
  isComposeId,
  composeStatus,
  composeActivity,
  endedComposes,
  type ComposeActivity,
  getComposeStatus,
  getComposeLogs,
  getComposeManifests,
  getComposeMetadata,
  getComposeOutputs,
  cancelCompose,
  listComposes,
  type ComposeView,
} from './status.js';
export {
  blueprintFromCustomizations,
  checkCustomizationSources,
  fromCustomizations,
  fromRequest,
  fromRequestBlueprint,
  requestField,
  withCryptedRequestPasswords,
  type BuildCustomizations,
  type CustomizationSource,
} from './customizations.js';
export { ComposeNotFoundError } from './errors.js';
export { defaultUploadTarget, checkUploadOptionFields } from './options.js';
