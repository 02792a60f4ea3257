export { blueprintCustomizations, convertBlueprint, isPasswordHash, parseBlueprintText, type ConvertedBlueprint, type Unsupported } from './convert.js';
export { MAX_KICKSTART, splitKickstartLine, translateKickstart, type KickstartLine, type KickstartNote, type KickstartTranslation } from './kickstart.js';
