/**
 * XML-RPC encoding the way Koji speaks it (koji/xmlrpcplus.py): `<nil/>` both ways, integers
 * outside signed 32 bits as `<i8>`, keyword arguments as a trailing struct marked
 * `__starstar: true`. Built on the xmlrpc package's serializer and (sax-based) deserializer;
 * the deserializer is subclassed because the stock one turns `<i8>` into a string and builds
 * structs on plain objects (a `__proto__` member would change the prototype).
 */
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';

const require = createRequire(import.meta.url);

interface XmlNode {
  ele(name: string): XmlNode;
  txt(text: string | number): XmlNode;
}
interface SerializerModule {
  serializeMethodCall(method: string, params: unknown[], encoding?: string): string;
  serializeMethodResponse(result: unknown): string;
  serializeFault(fault: unknown): string;
}
interface DeserializerInstance {
  stack: unknown[];
  marks: number[];
  value: boolean;
  push(value: unknown): void;
  deserializeMethodResponse(stream: Readable, cb: (err: (Error & { faultCode?: unknown; faultString?: unknown }) | null, value?: unknown) => void): void;
  deserializeMethodCall(stream: Readable, cb: (err: Error | null, method?: string, params?: unknown[]) => void): void;
}
type DeserializerCtor = new (encoding?: string) => DeserializerInstance;

const serializer = require('xmlrpc/lib/serializer.js') as SerializerModule;
const CustomType = require('xmlrpc/lib/customtype.js') as new (raw: string) => { serialize(xml: XmlNode): XmlNode };
const BaseDeserializer = require('xmlrpc/lib/deserializer.js') as DeserializerCtor;

export type XmlRpcValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Buffer
  | XmlRpcValue[]
  | { [key: string]: XmlRpcValue | undefined };

const I32_MIN = -(2 ** 31);
const I32_MAX = 2 ** 31 - 1;
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

class I8 extends CustomType {
  constructor(raw: string) {
    super(raw);
  }
}
(I8.prototype as unknown as { tagName: string }).tagName = 'i8';

class KojiDeserializer extends (BaseDeserializer as DeserializerCtor) {
  endI8(data: string): void {
    if (!/^\s*[-+]?\d+\s*$/.test(data)) throw new Error(`Expected integer (i8) value but got '${data}'`);
    const big = BigInt(data.trim());
    this.push(big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big);
    this.value = false;
  }

  endInt(data: string): void {
    if (!/^\s*[-+]?\d+\s*$/.test(data)) throw new Error(`Expected an integer but got '${data}'`);
    // Python's xmlrpc writes big ints as <int> too; keep them exact.
    this.endI8(data);
  }

  endStruct(): void {
    const mark = this.marks.pop()!;
    const items = this.stack.slice(mark);
    const struct: Record<string, unknown> = {};
    for (let i = 0; i < items.length; i += 2) {
      Object.defineProperty(struct, String(items[i]), { value: items[i + 1], enumerable: true, writable: true, configurable: true });
    }
    this.stack.splice(mark, this.stack.length - mark, struct);
    this.value = false;
  }
}

/** Rewrites a value into what the serializer understands: big ints become <i8>, undefined struct members are dropped. */
function prepare(value: unknown, path: string): unknown {
  if (value === undefined) return null;
  if (typeof value === 'bigint') {
    if (value < I64_MIN || value > I64_MAX) throw new RangeError(`${path || 'value'}: integer ${value} does not fit in 64 bits`);
    return value >= I32_MIN && value <= I32_MAX ? Number(value) : new I8(value.toString());
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new RangeError(`${path || 'value'}: ${value} cannot be sent over XML-RPC`);
    if (Number.isInteger(value) && (value < I32_MIN || value > I32_MAX)) {
      if (!Number.isSafeInteger(value)) throw new RangeError(`${path || 'value'}: ${value} is not an exact integer`);
      return new I8(value.toFixed(0));
    }
    return value;
  }
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value) || value instanceof Date) return value;
  if (Array.isArray(value)) return value.map((v, i) => prepare(v, `${path}[${i}]`));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v !== undefined) out[k] = prepare(v, path ? `${path}.${k}` : k);
  }
  return out;
}

/** Koji's keyword-argument marker: append the result as the last positional parameter. */
export function kwargs(named: Record<string, unknown>): Record<string, unknown> {
  return { ...named, __starstar: true };
}

/** Splits Koji-style params into positional args and keyword args (the hub's decode_args). */
export function decodeArgs(params: unknown[]): { args: unknown[]; kwargs: Record<string, unknown> } {
  const last = params[params.length - 1];
  if (last && typeof last === 'object' && !Array.isArray(last) && !Buffer.isBuffer(last) && (last as Record<string, unknown>).__starstar === true) {
    const { __starstar: _, ...named } = last as Record<string, unknown>;
    return { args: params.slice(0, -1), kwargs: named };
  }
  return { args: params, kwargs: {} };
}

export function encodeCall(method: string, params: unknown[]): string {
  return serializer.serializeMethodCall(method, prepare(params, 'params') as unknown[]);
}

export function encodeResponse(value: unknown): string {
  return serializer.serializeMethodResponse(prepare(value, ''));
}

export function encodeFault(faultCode: number, faultString: string): string {
  return serializer.serializeFault({ faultCode, faultString });
}

export class XmlRpcFault extends Error {
  constructor(
    readonly faultCode: number,
    readonly faultString: string,
  ) {
    super(`XML-RPC fault ${faultCode}: ${faultString}`);
  }
}

/** Parses a methodResponse; a fault is thrown as XmlRpcFault, anything unparsable as a plain Error. */
export function decodeResponse(body: Buffer | string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    new KojiDeserializer('utf8').deserializeMethodResponse(Readable.from([Buffer.from(body)]), (err, value) => {
      if (!err) return resolve(value);
      if (err.faultCode !== undefined) {
        reject(new XmlRpcFault(Number(err.faultCode), String(err.faultString ?? '')));
      } else reject(err);
    });
  });
}

export function decodeCall(body: Buffer | string): Promise<{ method: string; params: unknown[] }> {
  return new Promise((resolve, reject) => {
    new KojiDeserializer('utf8').deserializeMethodCall(Readable.from([Buffer.from(body)]), (err, method, params) => {
      if (err) reject(err);
      else resolve({ method: method!, params: params ?? [] });
    });
  });
}
