import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { parse as parseToml } from 'smol-toml';
import { InvalidConfigError, InvalidInputError } from '../errors.js';
import { loadSchema, validate } from '../schemas.js';
import type { KilnConfig } from '../generated/config.schema.js';

export type { KilnConfig };

/** The one place that reads process.env for configuration. */
export const DEFAULT_CONFIG_PATH = '/etc/kiln/kiln.toml';

interface SchemaNode {
  type?: string | string[];
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  additionalProperties?: boolean | SchemaNode;
}

export interface LoadConfigOptions {
  /** Explicit config file; otherwise KILN_CONFIG, then /etc/kiln/kiln.toml if it exists. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Values from command-line flags, as a partial config; they win over file and environment. */
  overrides?: Record<string, unknown>;
}

function envName(pathParts: string[]): string {
  return `KILN_${pathParts.join('_')}`.toUpperCase();
}

function coerce(raw: string, node: SchemaNode, key: string): unknown {
  const type = Array.isArray(node.type) ? node.type[0] : node.type;
  switch (type) {
    case 'integer':
    case 'number': {
      const n = Number(raw);
      if (raw.trim() === '' || Number.isNaN(n)) throw new InvalidConfigError(key, `${JSON.stringify(raw)} is not a number`);
      return n;
    }
    case 'boolean':
      if (/^(1|true|yes|on)$/i.test(raw)) return true;
      if (/^(0|false|no|off)$/i.test(raw)) return false;
      throw new InvalidConfigError(key, `${JSON.stringify(raw)} is not a boolean`);
    case 'array':
      if (raw.trim().startsWith('[')) {
        try {
          return JSON.parse(raw);
        } catch {
          throw new InvalidConfigError(key, 'is not a valid JSON array');
        }
      }
      return raw.split(',').map((s) => s.trim()).filter(Boolean);
    case 'object':
      try {
        return JSON.parse(raw);
      } catch {
        throw new InvalidConfigError(key, 'must be a JSON object when set by environment');
      }
    default:
      return raw;
  }
}

/** Walks the config schema and picks every KILN_<SECTION>_<KEY> variable that is set. */
function fromEnv(env: NodeJS.ProcessEnv, node: SchemaNode, prefix: string[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, child] of Object.entries(node.properties ?? {})) {
    const parts = [...prefix, name];
    if (child.properties) {
      const nested = fromEnv(env, child, parts);
      if (Object.keys(nested).length) out[name] = nested;
      continue;
    }
    const value = env[envName(parts)];
    if (value !== undefined) out[name] = coerce(value, child, parts.join('.'));
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function merge(base: Record<string, unknown>, top: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(top)) {
    if (v === undefined) continue;
    out[k] = isPlainObject(v) && isPlainObject(out[k]) ? merge(out[k] as Record<string, unknown>, v) : v;
  }
  return out;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

export function defaultArch(): string {
  return ({ x64: 'x86_64', arm64: 'aarch64', ppc64: 'ppc64le', s390x: 's390x' } as Record<string, string>)[os.arch()] ?? os.arch();
}

/**
 * Loads the configuration once: file (TOML), then environment, then flags; validated against
 * schemas/config.schema.json with defaults applied; errors name the key. The result is frozen.
 */
export function loadConfig(options: LoadConfigOptions = {}): Readonly<KilnConfig> {
  const env = options.env ?? process.env;
  const file = options.file ?? env.KILN_CONFIG ?? (existsSync(DEFAULT_CONFIG_PATH) ? DEFAULT_CONFIG_PATH : undefined);
  let fromFile: Record<string, unknown> = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new InvalidConfigError('file', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
    }
    try {
      fromFile = parseToml(text) as Record<string, unknown>;
    } catch (err) {
      throw new InvalidConfigError('file', `${file} is not valid TOML: ${(err as Error).message}`, { cause: err });
    }
  }
  const schema = loadSchema('config.schema') as SchemaNode;
  const merged = merge(merge(fromFile, fromEnv(env, schema)), options.overrides ?? {});
  let config: KilnConfig;
  try {
    config = validate<KilnConfig>('config.schema', merged);
  } catch (err) {
    if (err instanceof InvalidInputError) throw new InvalidConfigError(err.field, err.message.slice(err.field.length + 2));
    throw err;
  }
  if (!config.workers.arches || config.workers.arches.length === 0) {
    config.workers.arches = [defaultArch()];
  }
  config.state_dir = path.resolve(config.state_dir);
  return deepFreeze(config);
}
