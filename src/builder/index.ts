export { startBuilder, builderCommand, BUILDER_USAGE, DEFAULT_LIMITS, type Builder, type BuilderLimits, type BuilderOptions } from './agent.js';
export { runOnBuilder, type RunOnBuilderOptions } from './manager.js';
export { EXPORT_HEADER, type Phase } from './protocol.js';
