import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { InvalidInputError } from './errors.js';

/**
 * The JSON Schemas in schemas/ are the one source of truth for validation and (through
 * `npm run gen:types`, into src/generated/) for types. Schemas are addressed by file name
 * without `.json`, e.g. `config.schema` or by their `$id`.
 */
export const schemaDir = fileURLToPath(new URL('../schemas/', import.meta.url));

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

function makeAjv(coerceTypes: boolean): Ajv {
  const instance = new Ajv({ allErrors: false, strict: false, useDefaults: true, coerceTypes });
  addFormats(instance);
  for (const file of readdirSync(schemaDir).filter((f) => f.endsWith('.json')).sort()) {
    const schema = JSON.parse(readFileSync(path.join(schemaDir, file), 'utf8'));
    instance.addSchema(schema, schema.$id ?? file.replace(/\.json$/, ''));
  }
  return instance;
}

let strictAjv: Ajv | undefined;
let coercingAjv: Ajv | undefined;

/** Kiln's validator: JSON values are taken as they are, never coerced. */
export function ajv(): Ajv {
  return (strictAjv ??= makeAjv(false));
}

/** For query strings and path parameters, which arrive as text. */
export function coercingAjvInstance(): Ajv {
  return (coercingAjv ??= makeAjv(true));
}

export function loadSchema(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path.join(schemaDir, `${name}.json`), 'utf8'));
}

const validators = new Map<string, ValidateFunction>();

export function validator(id: string): ValidateFunction {
  let fn = validators.get(id);
  if (!fn) {
    fn = ajv().getSchema(id) ?? ajv().getSchema(`${id}.json`);
    if (!fn) throw new Error(`no schema ${id} in ${schemaDir}`);
    validators.set(id, fn);
  }
  return fn;
}

/** `/image_requests/0/architecture` → `image_requests[0].architecture`. */
export function pointerToField(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(part) ? `[${part}]` : out ? `.${part}` : part;
  }
  return out;
}

/** The field an ajv error is about, including the missing or extra property's name. */
export function errorField(error: ErrorObject, prefix = ''): string {
  let field = pointerToField(error.instancePath);
  const params = error.params as Record<string, unknown>;
  const extra = (params.missingProperty ?? params.additionalProperty ?? params.propertyName) as string | undefined;
  if (extra && error.keyword !== 'propertyNames') field = field ? `${field}.${extra}` : extra;
  if (prefix) field = field ? `${prefix}.${field}` : prefix;
  return field;
}

export function describeSchemaError(error: ErrorObject): string {
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return 'is required';
    case 'additionalProperties':
      return 'is not an allowed field';
    case 'format':
      return `is not a valid ${String(params.format)}`;
    case 'enum':
      return `must be one of: ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return error.message ?? 'is invalid';
  }
}

/**
 * Validates `value` against schema `id` (applying defaults in place) and returns it typed, or
 * throws InvalidInputError naming the first offending field.
 */
export function validate<T>(id: string, value: unknown, prefix = ''): T {
  const fn = validator(id);
  if (!fn(value)) {
    const error = fn.errors![0];
    throw new InvalidInputError(errorField(error, prefix) || prefix || '(body)', describeSchemaError(error), {
      details: { schema: id },
    });
  }
  return value as T;
}
