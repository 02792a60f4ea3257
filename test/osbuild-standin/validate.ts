/**
 * Validates an osbuild v2 manifest the way osbuild does (osbuild/formats/v2.py validate() with
 * osbuild/meta.py ModuleInfo.get_schema("2")): the manifest against schemas/osbuild2.json,
 * then every source, stage, input, device and mount against the schema composed from its
 * module's *.meta.json. Draft-04, as osbuild's jsonschema.Draft4Validator.
 * The schemas are osbuild's own, from shared/reference/osbuild-schemas/ beside the checkout
 * (test/helpers/reference.ts): without them the stand-in accepts what it cannot check, and says so.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import AjvDraft04Module from 'ajv-draft-04';
import addFormatsModule from 'ajv-formats';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { findReference } from '../helpers/reference.js';

export const osbuildSchemaDir: string | undefined = findReference('osbuild-schemas');

type AjvLike = { compile(schema: object): ValidateFunction };
const AjvDraft04 = ((AjvDraft04Module as unknown as { default?: unknown }).default ?? AjvDraft04Module) as new (opts: object) => AjvLike;
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: AjvLike) => void;

export interface ValidationError {
  message: string;
  path: (string | number)[];
}

export interface ValidationResult {
  type: 'https://osbuild.org/validation-error';
  title: 'JSON Schema validation failed';
  success: boolean;
  errors: ValidationError[];
  /** No schemas to check against (shared/reference/osbuild-schemas is not there). */
  skipped?: boolean;
}

type Klass = 'Stage' | 'Source' | 'Input' | 'Device' | 'Mount';
const DIRS: Record<Klass, string> = { Stage: 'stages', Source: 'sources', Input: 'inputs', Device: 'devices', Mount: 'mounts' };

let ajv: AjvLike | undefined;
function instance(): AjvLike {
  if (!ajv) {
    ajv = new AjvDraft04({ allErrors: true, strict: false, unicodeRegExp: false, validateSchema: false });
    addFormats(ajv);
  }
  return ajv;
}

const cache = new Map<string, ValidateFunction | null>();

type Json = Record<string, any>;

function composeSchema(klass: Klass, name: string, meta: Json): Json {
  const v1 = meta.schema ?? {};
  const v2 = meta.schema_2 ?? {};
  const schema: Json = { title: `Pipeline ${klass}`, type: 'object', additionalProperties: false };
  if (klass === 'Stage') {
    const opts = Object.keys(v2).length ? structuredClone(v2) : { options: structuredClone(v1) };
    schema.properties = { type: { enum: [name] }, ...opts };
    schema.properties.mounts ??= { type: 'array' };
    schema.properties.devices ??= { type: 'object' };
    schema.required = ['type'];
  } else if (klass === 'Device') {
    schema.additionalProperties = true;
    schema.properties = { type: { enum: [name] }, options: structuredClone(Object.keys(v2).length ? v2 : v1) };
  } else if (klass === 'Mount') {
    Object.assign(schema, structuredClone(v2));
    schema.properties = { ...(schema.properties ?? {}), type: { enum: [name] } };
  } else {
    Object.assign(schema, structuredClone(Object.keys(v2).length ? v2 : v1));
  }
  const props = schema.properties ?? {};
  if (props.definitions) {
    schema.definitions = props.definitions;
    delete props.definitions;
  }
  if (props.options?.definitions) {
    schema.definitions = props.options.definitions;
    delete props.options.definitions;
  }
  return schema;
}

function moduleValidator(klass: Klass, name: string): ValidateFunction | null {
  const key = `${klass}/${name}`;
  if (cache.has(key)) return cache.get(key)!;
  const file = path.join(osbuildSchemaDir!, DIRS[klass], `${name}.meta.json`);
  let fn: ValidateFunction | null = null;
  if (/^[A-Za-z0-9._-]+$/.test(name) && existsSync(file)) {
    fn = instance().compile(composeSchema(klass, name, JSON.parse(readFileSync(file, 'utf8'))));
  }
  cache.set(key, fn);
  return fn;
}

let manifestFn: ValidateFunction | undefined;
function manifestValidator(): ValidateFunction {
  if (!manifestFn) {
    const schema = JSON.parse(readFileSync(path.join(osbuildSchemaDir!, 'schemas', 'osbuild2.json'), 'utf8'));
    delete schema.$schema;
    manifestFn = instance().compile(schema);
  }
  return manifestFn;
}

function pointerToPath(pointer: string): (string | number)[] {
  if (!pointer) return [];
  return pointer
    .split('/')
    .slice(1)
    .map((raw) => raw.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
}

function describe(e: ErrorObject): string {
  const params = e.params as Record<string, unknown>;
  if (e.keyword === 'required') return `'${params.missingProperty}' is a required property`;
  if (e.keyword === 'additionalProperties') return `Additional properties are not allowed ('${params.additionalProperty}' was unexpected)`;
  if (e.keyword === 'enum') return `is not one of ${JSON.stringify(params.allowedValues)}`;
  return e.message ?? 'is invalid';
}

function dotted(p: (string | number)[]): string {
  return p.map((x) => (typeof x === 'number' ? `[${x}]` : `.${x}`)).join('');
}

export function validateManifest(manifest: unknown): ValidationResult {
  if (!osbuildSchemaDir) return { type: 'https://osbuild.org/validation-error', title: 'JSON Schema validation failed', success: true, errors: [], skipped: true };
  const errors: ValidationError[] = [];
  const seen = new Set<string>();
  const add = (base: (string | number)[], list: ErrorObject[] | null | undefined) => {
    for (const e of list ?? []) {
      const p = [...base, ...pointerToPath(e.instancePath)];
      const message = describe(e);
      const key = `${dotted(p)}\0${message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      errors.push({ message, path: p });
    }
  };
  const check = (klass: Klass, name: unknown, value: unknown, at: (string | number)[]) => {
    if (typeof name !== 'string') return;
    const fn = moduleValidator(klass, name);
    if (!fn) {
      errors.push({ message: `could not find schema information for '${name}'`, path: at });
      return;
    }
    if (!fn(value)) add(at, fn.errors);
  };

  const mf = manifestValidator();
  if (!mf(manifest)) add([], mf.errors);
  const m = (manifest ?? {}) as Json;
  if (m && typeof m === 'object') {
    for (const [name, source] of Object.entries((m.sources ?? {}) as Json)) check('Source', name, source, ['sources', name]);
    const pipelines = Array.isArray(m.pipelines) ? m.pipelines : [];
    pipelines.forEach((pl: Json, i: number) => {
      const stages = Array.isArray(pl?.stages) ? pl.stages : [];
      stages.forEach((st: Json, j: number) => {
        const at = ['pipelines', i, 'stages', j];
        check('Stage', st?.type, st, at);
        for (const [klass, group] of [
          ['Device', 'devices'],
          ['Input', 'inputs'],
          ['Mount', 'mounts'],
        ] as const) {
          let items = st?.[group] ?? {};
          if (Array.isArray(items)) items = Object.fromEntries(items.map((x: Json) => [x?.name, x]));
          for (const [n, mod] of Object.entries(items as Json)) check(klass, (mod as Json)?.type, mod, [...at, group, n]);
        }
      });
    });
  }
  errors.sort((a, b) => (dotted(a.path) < dotted(b.path) ? -1 : dotted(a.path) > dotted(b.path) ? 1 : 0));
  return { type: 'https://osbuild.org/validation-error', title: 'JSON Schema validation failed', success: errors.length === 0, errors };
}
