/**
 * Loads image definitions: the built-in ones (image-types/<family>/*.yaml, shipped with Kiln)
 * and the drop-ins of a host (image_types.dropin_dir, /etc/kiln/image-types.d/ by default):
 * YAML files validated by schemas/image-definitions.schema.json, merged into one catalog of
 * named blocks per family. Anything wrong is an ImageDefinitionError naming the file and the
 * field, raised when Kiln starts rather than when a build needs the block.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { KilnError } from '../../errors.js';
import { ajv, describeSchemaError, errorField, loadSchema } from '../../schemas.js';
import type {
  Distro,
  DirectorySizes,
  Environment,
  ImageConfigFragment,
  ImageDefinitionsFile,
  ImageType,
  InstallerConfigFragment,
  IsoConfigFragment,
  PackageSetEntry,
  PartitionTablesByArch,
  Platform,
} from '../../generated/image-definitions.schema.js';

/** Works from src/osbuild/definitions/ (tsx) and dist/osbuild/definitions/ alike. */
export const builtinDefinitionsDir = fileURLToPath(new URL('../../../image-types/', import.meta.url));

/** A bad definition: which file, which field, what is wrong. */
export class ImageDefinitionError extends KilnError {
  constructor(file: string, field: string, message: string) {
    super('KILN_IMAGE_DEFINITION', `${file}: ${field ? `${field}: ` : ''}${message}`, { details: { file, field } });
  }
}

/** A value from a definitions file, with where it came from (for messages and overrides). */
export interface Sourced<T> {
  value: T;
  file: string;
}

export const BLOCK_KINDS = [
  'package_sets',
  'partition_tables',
  'platforms',
  'image_configs',
  'installer_configs',
  'iso_configs',
  'environments',
  'option_lists',
  'directory_sizes',
] as const;
export type BlockKind = (typeof BLOCK_KINDS)[number];

interface BlockValue {
  package_sets: PackageSetEntry;
  partition_tables: PartitionTablesByArch;
  platforms: Platform;
  image_configs: ImageConfigFragment;
  installer_configs: InstallerConfigFragment;
  iso_configs: IsoConfigFragment;
  environments: Environment;
  option_lists: string[];
  directory_sizes: DirectorySizes;
}

export interface Family {
  name: string;
  distros: Map<string, Sourced<Distro>>;
  blocks: { [K in BlockKind]: Map<string, Sourced<BlockValue[K]>> };
  imageTypes: Map<string, Sourced<ImageType>>;
}

export interface Catalog {
  families: Map<string, Family>;
  /** What drop-ins replaced or added, one line each (logged at start). */
  overrides: string[];
  /** Digest of every file read: hosts that build one compose must agree on it. */
  fingerprint: string;
}

let configProperties: Record<string, { $ref?: string; type?: string }> | undefined;
function imageConfigProperties(): Record<string, { $ref?: string; type?: string }> {
  configProperties ??= (loadSchema('image-definitions.schema') as { definitions: { imageConfig: { properties: Record<string, { $ref?: string; type?: string }> } } }).definitions.imageConfig.properties;
  return configProperties;
}

/** Keys an image-config fragment may carry, from the schema (one list for loader and schema). */
export function imageConfigKeys(): Set<string> {
  return new Set(Object.keys(imageConfigProperties()));
}

let listKeys: Set<string> | undefined;
/** Image-config keys whose values are lists (the ones a condition may `append` to). */
export function imageConfigListKeys(): Set<string> {
  listKeys ??= new Set(
    Object.entries(imageConfigProperties())
      .filter(([, s]) => s.type === 'array' || s.$ref === '#/definitions/stringList')
      .map(([k]) => k),
  );
  return listKeys;
}

function emptyFamily(name: string): Family {
  const blocks = Object.fromEntries(BLOCK_KINDS.map((k) => [k, new Map()])) as unknown as Family['blocks'];
  return { name, distros: new Map(), blocks, imageTypes: new Map() };
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => path.join(dir, f));
}

function parseFile(file: string, label: string): ImageDefinitionsFile {
  let doc: unknown;
  try {
    doc = YAML.parse(readFileSync(file, 'utf8'), { uniqueKeys: true, prettyErrors: true, maxAliasCount: 1000 });
  } catch (err) {
    const e = err as Error & { linePos?: { line: number; col: number }[] };
    const where = e.linePos?.[0] ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '';
    throw new ImageDefinitionError(label, where, `not valid YAML: ${e.message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) return {};
  const validate = ajv().getSchema('image-definitions.schema')!;
  if (!validate(doc)) {
    // the most specific error: oneOf branches report their own, the deepest path says most
    const errors = [...(validate.errors ?? [])].sort((a, b) => b.instancePath.length - a.instancePath.length);
    const error = errors.find((e) => e.keyword !== 'oneOf' && e.keyword !== 'allOf') ?? errors[0];
    throw new ImageDefinitionError(label, errorField(error), describeSchemaError(error));
  }
  return doc as ImageDefinitionsFile;
}

export interface LoadOptions {
  builtinDir?: string;
  /** A directory of drop-in files; a missing directory is no drop-ins. */
  dropinDir?: string;
}

/**
 * Reads every definitions file. Built-in files of one family may not define a name twice; a
 * drop-in replaces a built-in block or image type of the same name (and says so in
 * `overrides`), and adds releases to a distro it names.
 */
export function loadCatalog(options: LoadOptions = {}): Catalog {
  const builtinDir = options.builtinDir ?? builtinDefinitionsDir;
  const families = new Map<string, Family>();
  const overrides: string[] = [];
  const hash = createHash('sha256');
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) families.set(name, (f = emptyFamily(name)));
    return f;
  };

  for (const entry of readdirSync(builtinDir).sort()) {
    const dir = path.join(builtinDir, entry);
    if (!statSync(dir).isDirectory()) continue;
    for (const file of yamlFiles(dir)) {
      const label = `image-types/${entry}/${path.basename(file)}`;
      const doc = parseFile(file, label);
      hash.update(label).update(readFileSync(file));
      if (doc.family !== undefined && doc.family !== entry) throw new ImageDefinitionError(label, 'family', `is ${JSON.stringify(doc.family)}, but the file is in image-types/${entry}/`);
      addFile(family(entry), doc, label, false, overrides);
    }
  }
  if (options.dropinDir && existsSync(options.dropinDir)) {
    for (const file of yamlFiles(options.dropinDir)) {
      const label = file;
      const doc = parseFile(file, label);
      hash.update(label).update(readFileSync(file));
      if (!doc.family) throw new ImageDefinitionError(label, 'family', 'is required in a drop-in (the family it adds to, e.g. fedora)');
      addFile(family(doc.family), doc, label, true, overrides);
    }
  }
  for (const f of families.values()) checkReferences(f);
  return { families, overrides, fingerprint: hash.digest('hex').slice(0, 16) };
}

function addFile(fam: Family, doc: ImageDefinitionsFile, file: string, dropin: boolean, overrides: string[]): void {
  for (const [id, distro] of Object.entries(doc.distros ?? {})) {
    const existing = fam.distros.get(id);
    if (existing && !dropin) throw new ImageDefinitionError(file, `distros.${id}`, `is already defined in ${existing.file}`);
    if (existing) {
      const releases = { ...existing.value.releases, ...distro.releases };
      fam.distros.set(id, { value: { ...existing.value, ...distro, releases }, file });
      const added = Object.keys(distro.releases ?? {}).filter((r) => !existing.value.releases?.[r]);
      overrides.push(`${file}: distro ${fam.name}/${id}${added.length ? ` gains releases ${added.join(', ')}` : ''}${Object.keys(distro).some((k) => k !== 'releases') ? ' (keys replaced)' : ''}`);
    } else {
      fam.distros.set(id, { value: distro, file });
      if (dropin) overrides.push(`${file}: adds distro ${fam.name}/${id}`);
    }
  }
  for (const kind of BLOCK_KINDS) {
    for (const [name, value] of Object.entries(doc[kind] ?? {})) {
      const map = fam.blocks[kind] as Map<string, Sourced<unknown>>;
      const existing = map.get(name);
      if (existing && !dropin) throw new ImageDefinitionError(file, `${kind}.${name}`, `is already defined in ${existing.file}`);
      if (existing) overrides.push(`${file}: replaces ${kind} ${fam.name}/${name} (from ${existing.file})`);
      else if (dropin) overrides.push(`${file}: adds ${kind} ${fam.name}/${name}`);
      map.set(name, { value, file });
    }
  }
  for (const [name, value] of Object.entries(doc.image_types ?? {})) {
    const existing = fam.imageTypes.get(name);
    if (existing && !dropin) throw new ImageDefinitionError(file, `image_types.${name}`, `is already defined in ${existing.file}`);
    if (existing) overrides.push(`${file}: replaces image type ${fam.name}/${name} (from ${existing.file})`);
    else if (dropin) overrides.push(`${file}: adds image type ${fam.name}/${name}`);
    fam.imageTypes.set(name, { value, file });
  }
}

/** Every `use`, `inherits` and image-config key names something that exists. */
function checkReferences(fam: Family): void {
  const configKeys = imageConfigKeys();
  const listKeys = imageConfigListKeys();
  const need = (kind: BlockKind, name: string, file: string, field: string) => {
    if (!fam.blocks[kind].has(name)) {
      const known = [...fam.blocks[kind].keys()].sort();
      throw new ImageDefinitionError(file, field, `no ${kind.replace(/_/g, ' ').replace(/s$/, '')} ${JSON.stringify(name)} in family ${fam.name}${known.length ? ` (there are: ${known.join(', ')})` : ''}`);
    }
  };
  const checkConfig = (frag: ImageConfigFragment | Record<string, unknown>, file: string, field: string, mode: 'fragment' | 'merge' | 'append') => {
    for (const key of Object.keys(frag)) {
      if (mode === 'fragment' && (key === 'use' || key === 'conditions')) continue;
      if (!configKeys.has(key)) throw new ImageDefinitionError(file, `${field}.${key}`, 'is not an image config key');
      if (mode === 'append' && !listKeys.has(key)) throw new ImageDefinitionError(file, `${field}.${key}`, 'is not a list, so a condition cannot append to it (use merge)');
    }
    if (mode !== 'fragment') return;
    const f = frag as ImageConfigFragment;
    for (const [i, name] of (f.use === undefined ? [] : Array.isArray(f.use) ? f.use : [f.use]).entries()) need('image_configs', name, file, `${field}.use${Array.isArray(f.use) ? `[${i}]` : ''}`);
    for (const [i, c] of (f.conditions ?? []).entries()) {
      if (!c.merge && !c.append) throw new ImageDefinitionError(file, `${field}.conditions[${i}]`, 'needs merge or append');
      if (c.merge) checkConfig(c.merge, file, `${field}.conditions[${i}].merge`, 'merge');
      if (c.append) checkConfig(c.append, file, `${field}.conditions[${i}].append`, 'append');
    }
  };
  const checkConfigList = (list: ImageConfigFragment[] | undefined, file: string, field: string) => list?.forEach((f, i) => checkConfig(f, file, `${field}[${i}]`, 'fragment'));
  const checkPackageEntry = (e: PackageSetEntry, file: string, field: string) => {
    if (e.use !== undefined) {
      if (e.include || e.exclude || e.conditions) throw new ImageDefinitionError(file, field, 'an entry with use cannot also list packages or conditions');
      need('package_sets', e.use, file, `${field}.use`);
    }
  };
  const checkPlatform = (p: Platform, file: string, field: string) => {
    if (p.use !== undefined) need('platforms', p.use, file, `${field}.use`);
  };

  for (const [id, { value, file }] of fam.distros) checkConfigList(value.image_config, file, `distros.${id}.image_config`);
  for (const [name, { value, file }] of fam.blocks.image_configs) checkConfig(value, file, `image_configs.${name}`, 'fragment');
  for (const [name, { value, file }] of fam.blocks.package_sets) checkPackageEntry(value, file, `package_sets.${name}`);
  for (const [name, { value, file }] of fam.blocks.platforms) checkPlatform(value, file, `platforms.${name}`);
  for (const [name, { value: t, file }] of fam.imageTypes) {
    const field = `image_types.${name}`;
    if (t.inherits !== undefined) {
      const seen = new Set([name]);
      for (let parent: string | undefined = t.inherits; parent !== undefined; parent = fam.imageTypes.get(parent)?.value.inherits) {
        if (!fam.imageTypes.has(parent)) throw new ImageDefinitionError(file, `${field}.inherits`, `no image type ${JSON.stringify(parent)} in family ${fam.name}`);
        if (seen.has(parent)) throw new ImageDefinitionError(file, `${field}.inherits`, `inherits from itself through ${[...seen].join(' → ')}`);
        seen.add(parent);
      }
    }
    checkConfigList(t.image_config, file, `${field}.image_config`);
    for (const [set, entries] of Object.entries(t.package_sets ?? {})) entries.forEach((e, i) => checkPackageEntry(e, file, `${field}.package_sets.${set}[${i}]`));
    for (const [arch, p] of Object.entries(t.platforms?.arches ?? {})) checkPlatform(p, file, `${field}.platforms.arches.${arch}`);
    for (const [i, c] of (t.platforms?.conditions ?? []).entries()) for (const [arch, p] of Object.entries(c.override)) checkPlatform(p, file, `${field}.platforms.conditions[${i}].override.${arch}`);
    const pt = t.partition_table;
    if (pt) {
      if ((pt.use === undefined) === (pt.tables === undefined)) throw new ImageDefinitionError(file, `${field}.partition_table`, 'needs exactly one of use and tables');
      if (pt.use !== undefined) need('partition_tables', pt.use, file, `${field}.partition_table.use`);
      for (const [i, c] of (pt.conditions ?? []).entries()) {
        if ((c.override.use === undefined) === (c.override.tables === undefined)) throw new ImageDefinitionError(file, `${field}.partition_table.conditions[${i}].override`, 'needs exactly one of use and tables');
        if (c.override.use !== undefined) need('partition_tables', c.override.use, file, `${field}.partition_table.conditions[${i}].override.use`);
      }
    }
    if (typeof t.environment === 'string') need('environments', t.environment, file, `${field}.environment`);
    if (typeof t.required_directory_sizes === 'string') need('directory_sizes', t.required_directory_sizes, file, `${field}.required_directory_sizes`);
    for (const [i, s] of (t.customizations?.supported ?? []).entries()) if (typeof s !== 'string') need('option_lists', s.use, file, `${field}.customizations.supported[${i}].use`);
    for (const [i, f] of (t.installer_config ?? []).entries()) if (f.use !== undefined) need('installer_configs', f.use, file, `${field}.installer_config[${i}].use`);
    for (const [i, f] of (t.iso_config ?? []).entries()) if (f.use !== undefined) need('iso_configs', f.use, file, `${field}.iso_config[${i}].use`);
  }
  for (const [name, { value, file }] of fam.blocks.installer_configs) if (value.use !== undefined) need('installer_configs', value.use, file, `installer_configs.${name}.use`);
  for (const [name, { value, file }] of fam.blocks.iso_configs) if (value.use !== undefined) need('iso_configs', value.use, file, `iso_configs.${name}.use`);
}
