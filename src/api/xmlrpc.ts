/**
 * POST /RPC2: the compose API over XML-RPC, for Koji-side Python that has only the standard
 * library (`xmlrpc.client`). Methods: compose.create/status/logs/cancel/list and
 * system.listMethods; results have the same shape as the JSON API's bodies. Errors are faults
 * whose faultCode comes from faultCodeOf (Koji's numbering) and whose faultString names the field.
 *
 * The request parser is our own, small and strict, rather than the xmlrpc package's sax-based
 * deserializer: that one parses in sax's lenient mode (malformed XML is often accepted
 * silently) and does not refuse DOCTYPE declarations. Here a DOCTYPE or ENTITY declaration is
 * refused outright (no entity expansion, so no XML bombs), only the five predefined and numeric
 * character references are known, nesting depth is bounded, and the body size is capped.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, FastifyError, FastifySchema } from 'fastify';
import type { Pool } from '../db/index.js';
import { InvalidInputError, KilnError } from '../errors.js';
import { createCompose, checkCompose, getComposeStatus, getComposeLogs, getComposeOutputs, cancelCompose, listComposes, isComposeId } from '../compose/index.js';
import { translateKickstart } from '../blueprint/index.js';
import type { QueueDefaults } from '../queue/index.js';
import type { KilnConfig } from '../generated/config.schema.js';
import { faultCodeOf, fromFastifyError, httpStatusOf } from './errors.js';

export interface XmlRpcOptions {
  pool: Pool;
  kojiServers?: readonly string[];
  queueDefaults?: QueueDefaults;
  /** The config's [s3] (default bucket of upload_options). */
  s3?: KilnConfig['s3'];
  /** Largest accepted request body (bytes); default 1 MiB. */
  bodyLimit?: number;
}

// ---------------------------------------------------------------------------------------------
// parsing

interface XmlElement {
  name: string;
  children: XmlElement[];
  /** Character data directly inside this element (concatenated). */
  text: string;
  line: number;
}

const MAX_DEPTH = 64;
const NAME = /[A-Za-z_:][A-Za-z0-9_:.-]*/y;

class XmlSyntaxError extends InvalidInputError {
  constructor(message: string, text: string, pos: number) {
    const before = text.slice(0, pos);
    const line = before.split('\n').length;
    const column = pos - before.lastIndexOf('\n');
    super('(body)', `malformed XML at line ${line}, column ${column}: ${message}`);
  }
}

const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function isXmlChar(cp: number): boolean {
  return cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
}

/** Parses an XML document (no DTD) into elements; attributes are checked for syntax and dropped. */
export function parseXml(text: string): XmlElement {
  let pos = 0;
  const fail = (message: string, at = pos): never => {
    throw new XmlSyntaxError(message, text, at);
  };
  // an element's line, counted on from the previous element's (element starts only move
  // forward): counting from the start for each element took quadratic time on a big body
  let linePos = 0;
  let lineNo = 1;
  const lineAt = (at: number) => {
    for (; linePos < at; linePos++) if (text.charCodeAt(linePos) === 10) lineNo++;
    return lineNo;
  };
  const skipSpace = () => {
    while (pos < text.length && /[ \t\r\n]/.test(text[pos])) pos++;
  };
  const readName = (): string => {
    NAME.lastIndex = pos;
    const m = NAME.exec(text);
    if (!m) fail('expected a name');
    pos += m![0].length;
    return m![0];
  };
  const decode = (raw: string, at: number): string =>
    raw.replace(/&([^;&<]*);?/g, (ref, body: string, offset: number) => {
      if (!ref.endsWith(';')) fail('"&" must start a reference ending in ";"', at + offset);
      if (body in PREDEFINED) return PREDEFINED[body];
      const m = /^#(?:x([0-9A-Fa-f]{1,6})|([0-9]{1,7}))$/.exec(body);
      if (m) {
        const cp = m[1] ? parseInt(m[1], 16) : parseInt(m[2], 10);
        if (!isXmlChar(cp)) fail(`character reference ${ref} is not an XML character`, at + offset);
        return String.fromCodePoint(cp);
      }
      return fail(`unknown entity ${ref} (entities are not expanded)`, at + offset);
    });
  const misc = (allowDecl: boolean) => {
    for (;;) {
      skipSpace();
      if (text.startsWith('<!--', pos)) {
        const end = text.indexOf('-->', pos + 4);
        if (end < 0) fail('unterminated comment');
        pos = end + 3;
      } else if (/^<!DOCTYPE/i.test(text.slice(pos, pos + 9)) || text.startsWith('<!ENTITY', pos)) {
        fail('DOCTYPE and ENTITY declarations are not allowed');
      } else if (text.startsWith('<?', pos)) {
        if (!allowDecl || !/^<\?xml[ \t\r\n]/.test(text.slice(pos, pos + 6))) fail('processing instructions are not allowed');
        const end = text.indexOf('?>', pos);
        if (end < 0) fail('unterminated XML declaration');
        const decl = text.slice(pos, end);
        const enc = /encoding[ \t\r\n]*=[ \t\r\n]*["']([^"']*)["']/.exec(decl);
        if (enc && !/^(utf-?8|us-ascii)$/i.test(enc[1])) fail(`encoding ${enc[1]} is not supported (use UTF-8)`);
        pos = end + 2;
      } else return;
      allowDecl = false;
    }
  };

  if (text.charCodeAt(0) === 0xfeff) pos = 1;
  misc(true);
  if (text[pos] !== '<') fail(pos >= text.length ? 'the document is empty' : 'expected an element');
  // the loop below starts inside no element: an end tag or CDATA here has no element to belong to
  if (text.startsWith('</', pos) || text.startsWith('<![CDATA[', pos)) fail('expected an element');

  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  while (!root) {
    if (pos >= text.length) fail(`unexpected end of document inside <${stack[stack.length - 1].name}>`);
    const lt = text.indexOf('<', pos);
    if (lt !== pos) {
      const end = lt < 0 ? text.length : lt;
      const raw = text.slice(pos, end);
      if (raw.includes(']]>')) fail('"]]>" is not allowed in text', pos + raw.indexOf(']]>'));
      stack[stack.length - 1].text += decode(raw, pos);
      pos = end;
      continue;
    }
    if (text.startsWith('<!--', pos)) {
      const end = text.indexOf('-->', pos + 4);
      if (end < 0) fail('unterminated comment');
      pos = end + 3;
    } else if (text.startsWith('<![CDATA[', pos)) {
      const end = text.indexOf(']]>', pos + 9);
      if (end < 0) fail('unterminated CDATA section');
      stack[stack.length - 1].text += text.slice(pos + 9, end);
      pos = end + 3;
    } else if (text.startsWith('<!', pos)) {
      fail(/^<!(DOCTYPE|ENTITY)/i.test(text.slice(pos, pos + 9)) ? 'DOCTYPE and ENTITY declarations are not allowed' : 'unexpected "<!"');
    } else if (text.startsWith('<?', pos)) {
      fail('processing instructions are not allowed');
    } else if (text.startsWith('</', pos)) {
      const at = pos;
      pos += 2;
      const name = readName();
      skipSpace();
      if (text[pos] !== '>') fail('expected ">"');
      pos++;
      const open = stack.pop()!;
      if (open.name !== name) fail(`</${name}> does not close <${open.name}> (line ${open.line})`, at);
      if (!stack.length) root = open;
    } else {
      const at = pos;
      pos++;
      const el: XmlElement = { name: readName(), children: [], text: '', line: lineAt(at) };
      const seen = new Set<string>();
      for (;;) {
        const hadSpace = /[ \t\r\n]/.test(text[pos] ?? '');
        skipSpace();
        if (text[pos] === '>' || text.startsWith('/>', pos)) break;
        if (pos >= text.length) fail(`unterminated tag <${el.name}>`);
        if (!hadSpace) fail('expected whitespace before an attribute');
        const attr = readName();
        if (seen.has(attr)) fail(`duplicate attribute ${attr}`);
        seen.add(attr);
        skipSpace();
        if (text[pos] !== '=') fail('expected "=" after an attribute name');
        pos++;
        skipSpace();
        const q = text[pos];
        if (q !== '"' && q !== "'") fail('expected a quoted attribute value');
        const end = text.indexOf(q, pos + 1);
        if (end < 0) fail('unterminated attribute value');
        if (text.slice(pos + 1, end).includes('<')) fail('"<" is not allowed in an attribute value');
        decode(text.slice(pos + 1, end), pos + 1);
        pos = end + 1;
      }
      if (stack.length) stack[stack.length - 1].children.push(el);
      if (stack.length >= MAX_DEPTH) fail(`elements nested deeper than ${MAX_DEPTH}`, at);
      if (text.startsWith('/>', pos)) {
        pos += 2;
        if (!stack.length) root = el;
      } else {
        pos++;
        stack.push(el);
      }
    }
  }
  misc(false);
  if (pos < text.length) fail('content after the document element');
  for (const ch of text) {
    if (!isXmlChar(ch.codePointAt(0)!)) fail(`character U+${ch.codePointAt(0)!.toString(16).padStart(4, '0')} is not allowed in XML`, text.indexOf(ch));
  }
  return root;
}

function onlyChild(el: XmlElement, path: string): XmlElement {
  if (el.text.trim()) throw new InvalidInputError(path, `unexpected text inside <${el.name}>`);
  if (el.children.length !== 1) throw new InvalidInputError(path, `<${el.name}> must hold exactly one element, not ${el.children.length}`);
  return el.children[0];
}

function childrenNamed(el: XmlElement, name: string, path: string): XmlElement[] {
  if (el.text.trim()) throw new InvalidInputError(path, `unexpected text inside <${el.name}>`);
  for (const c of el.children) if (c.name !== name) throw new InvalidInputError(path, `unexpected <${c.name}> inside <${el.name}> (expected <${name}>)`);
  return el.children;
}

function leaf(el: XmlElement, path: string): string {
  if (el.children.length) throw new InvalidInputError(path, `<${el.name}> must not contain elements`);
  return el.text;
}

/** Converts a <value> element; `path` names the field for errors, e.g. params[0].koji.task_id. */
function toValue(value: XmlElement, path: string): unknown {
  if (value.name !== 'value') throw new InvalidInputError(path, `expected <value>, found <${value.name}>`);
  if (!value.children.length) return value.text; // untyped value: a string
  const el = onlyChild(value, path);
  switch (el.name) {
    case 'string':
      return leaf(el, path);
    case 'int':
    case 'i4':
    case 'i8': {
      const t = leaf(el, path).trim();
      if (!/^[+-]?\d{1,20}$/.test(t)) throw new InvalidInputError(path, `<${el.name}> ${JSON.stringify(t)} is not an integer`);
      const n = Number(t);
      if (!Number.isSafeInteger(n)) throw new InvalidInputError(path, `integer ${t} is out of range`);
      if (el.name !== 'i8' && (n < -(2 ** 31) || n > 2 ** 31 - 1)) throw new InvalidInputError(path, `integer ${t} does not fit <${el.name}> (use <i8>)`);
      return n;
    }
    case 'boolean': {
      const t = leaf(el, path).trim();
      if (t !== '0' && t !== '1') throw new InvalidInputError(path, `<boolean> must be 0 or 1, not ${JSON.stringify(t)}`);
      return t === '1';
    }
    case 'double': {
      const t = leaf(el, path).trim();
      if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) throw new InvalidInputError(path, `<double> ${JSON.stringify(t)} is not a number`);
      return Number(t);
    }
    case 'nil':
      if (el.children.length || el.text.trim()) throw new InvalidInputError(path, '<nil/> must be empty');
      return null;
    case 'dateTime.iso8601':
      return leaf(el, path).trim();
    case 'base64': {
      const t = leaf(el, path).replace(/[ \t\r\n]/g, '');
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(t) || t.length % 4) throw new InvalidInputError(path, '<base64> is not valid base64');
      return Buffer.from(t, 'base64');
    }
    case 'array': {
      const data = onlyChild(el, path);
      if (data.name !== 'data') throw new InvalidInputError(path, `<array> must hold <data>, not <${data.name}>`);
      return childrenNamed(data, 'value', path).map((v, i) => toValue(v, `${path}[${i}]`));
    }
    case 'struct': {
      // members are defined as own properties, so a "__proto__" member is just a member
      const out: Record<string, unknown> = {};
      for (const member of childrenNamed(el, 'member', path)) {
        const [nameEl, valueEl, ...extra] = member.children;
        if (!nameEl || nameEl.name !== 'name' || !valueEl || extra.length || member.text.trim()) {
          throw new InvalidInputError(path, '<member> must hold <name> and <value>');
        }
        const name = leaf(nameEl, path);
        const memberPath = path ? `${path}.${name}` : name;
        if (Object.prototype.hasOwnProperty.call(out, name)) throw new InvalidInputError(memberPath, 'is given twice');
        Object.defineProperty(out, name, { value: toValue(valueEl, memberPath), enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    default:
      throw new InvalidInputError(path, `unknown XML-RPC type <${el.name}>`);
  }
}

export interface MethodCall {
  method: string;
  params: unknown[];
}

/** Parses a <methodCall> document; throws InvalidInputError naming the problem. */
export function parseMethodCall(body: string): MethodCall {
  const root = parseXml(body);
  if (root.name !== 'methodCall') throw new InvalidInputError('(body)', `expected <methodCall>, found <${root.name}>`);
  if (root.text.trim()) throw new InvalidInputError('(body)', 'unexpected text inside <methodCall>');
  const [nameEl, paramsEl, ...extra] = root.children;
  if (!nameEl || nameEl.name !== 'methodName') throw new InvalidInputError('methodName', 'is required as the first element of <methodCall>');
  if (extra.length || (paramsEl && paramsEl.name !== 'params')) throw new InvalidInputError('(body)', '<methodCall> holds only <methodName> and <params>');
  const method = leaf(nameEl, 'methodName').trim();
  if (!/^[A-Za-z0-9_.:/]{1,128}$/.test(method)) throw new InvalidInputError('methodName', `${JSON.stringify(method)} is not a method name`);
  const params = paramsEl
    ? childrenNamed(paramsEl, 'param', 'params').map((p, i) => {
        const v = onlyChild(p, `params[${i}]`);
        return toValue(v, `params[${i}]`);
      })
    : [];
  return { method, params };
}

// ---------------------------------------------------------------------------------------------
// serialising

const escapeXml = (s: string) =>
  s.replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;')).replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '\uFFFD');

/** One value as XML-RPC: null as <nil/>, integers beyond 32 bits as <i8>, Dates as ISO strings. */
export function serializeValue(value: unknown, path = 'result'): string {
  if (value === null || value === undefined) return '<value><nil/></value>';
  switch (typeof value) {
    case 'boolean':
      return `<value><boolean>${value ? 1 : 0}</boolean></value>`;
    case 'string':
      return `<value><string>${escapeXml(value)}</string></value>`;
    case 'bigint':
      if (value < -(2n ** 63n) || value >= 2n ** 63n) throw new RangeError(`${path}: integer does not fit 64 bits`);
      return value >= -(2n ** 31n) && value < 2n ** 31n ? `<value><int>${value}</int></value>` : `<value><i8>${value}</i8></value>`;
    case 'number':
      if (!Number.isFinite(value)) throw new RangeError(`${path}: ${value} cannot be sent over XML-RPC`);
      if (Number.isInteger(value)) {
        if (value >= -(2 ** 31) && value <= 2 ** 31 - 1) return `<value><int>${value}</int></value>`;
        if (Number.isSafeInteger(value)) return `<value><i8>${value}</i8></value>`;
      }
      return `<value><double>${value}</double></value>`;
  }
  if (value instanceof Date) return `<value><string>${value.toISOString()}</string></value>`;
  if (Buffer.isBuffer(value)) return `<value><base64>${value.toString('base64')}</base64></value>`;
  if (Array.isArray(value)) return `<value><array><data>${value.map((v, i) => serializeValue(v, `${path}[${i}]`)).join('')}</data></array></value>`;
  if (typeof value === 'object') {
    const members = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `<member><name>${escapeXml(k)}</name>${serializeValue(v, `${path}.${k}`)}</member>`);
    return `<value><struct>${members.join('')}</struct></value>`;
  }
  throw new TypeError(`${path}: ${typeof value} cannot be sent over XML-RPC`);
}

export function serializeResponse(value: unknown): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<methodResponse><params><param>${serializeValue(value)}</param></params></methodResponse>\n`;
}

export function serializeFault(faultCode: number, faultString: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<methodResponse><fault>${serializeValue({ faultCode, faultString })}</fault></methodResponse>\n`;
}

// ---------------------------------------------------------------------------------------------
// methods

interface Context extends Omit<XmlRpcOptions, 'bodyLimit'> {
  request: FastifyRequest;
}

type Method = { params: string; run(ctx: Context, args: unknown[]): Promise<unknown> };

function arity(args: unknown[], min: number, max: number, signature: string): void {
  if (args.length < min || args.length > max) {
    throw new InvalidInputError('params', `${signature} takes ${min === max ? min : `${min} to ${max}`} parameter(s), got ${args.length}`);
  }
}

function stringArg(args: unknown[], i: number, name: string): string {
  const v = args[i];
  if (typeof v !== 'string' || !v) throw new InvalidInputError(`params[${i}] (${name})`, 'must be a non-empty string');
  return v;
}

/** params[0], a compose id (a UUID), named as XML-RPC callers see it. */
function composeIdArg(args: unknown[]): string {
  const id = stringArg(args, 0, 'id');
  if (!isComposeId(id)) throw new InvalidInputError('params[0] (id)', `${JSON.stringify(id.slice(0, 100))} is not a compose id (a UUID)`);
  return id;
}

function intArg(args: unknown[], i: number, name: string, min: number, max: number, fallback: number): number {
  const v = args[i];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new InvalidInputError(`params[${i}] (${name})`, `must be an integer from ${min} to ${max}`);
  return v;
}

/** Dates become ISO strings and undefined members go, exactly as in the JSON API's bodies. */
const asJson = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

const METHODS: Record<string, Method> = {
  'compose.create': {
    params: 'compose.create(request: struct) -> id',
    async run({ pool, kojiServers, queueDefaults, s3, request }, args) {
      arity(args, 1, 1, 'compose.create(request)');
      const { id } = await createCompose(pool, args[0], { kojiServers, queueDefaults, s3, owner: request.kilnPrincipal });
      request.log.info({ composeId: id }, 'compose created (XML-RPC)');
      return id;
    },
  },
  'compose.check': {
    params: 'compose.check(request: struct) -> ComposeCheck struct (every check of compose.create; nothing is created)',
    async run({ kojiServers, queueDefaults, s3 }, args) {
      arity(args, 1, 1, 'compose.check(request)');
      return asJson(checkCompose(args[0], { kojiServers, queueDefaults, s3 }));
    },
  },
  'compose.outputs': {
    params: 'compose.outputs(id: string) -> ComposeOutputs struct',
    async run({ pool }, args) {
      arity(args, 1, 1, 'compose.outputs(id)');
      return asJson(await getComposeOutputs(pool, composeIdArg(args)));
    },
  },
  'kickstart.translate': {
    params: 'kickstart.translate(kickstart: string) -> KickstartTranslation struct',
    async run(_ctx, args) {
      arity(args, 1, 1, 'kickstart.translate(kickstart)');
      return asJson(translateKickstart(stringArg(args, 0, 'kickstart'), 'params[0] (kickstart)'));
    },
  },
  'compose.status': {
    params: 'compose.status(id: string) -> ComposeStatus struct',
    async run({ pool }, args) {
      arity(args, 1, 1, 'compose.status(id)');
      return asJson(await getComposeStatus(pool, composeIdArg(args)));
    },
  },
  'compose.logs': {
    params: 'compose.logs(id: string) -> ComposeLogs struct',
    async run({ pool }, args) {
      arity(args, 1, 1, 'compose.logs(id)');
      return asJson(await getComposeLogs(pool, composeIdArg(args)));
    },
  },
  'compose.cancel': {
    params: 'compose.cancel(id: string, reason?: string) -> ComposeStatus struct',
    async run({ pool, request }, args) {
      arity(args, 1, 2, 'compose.cancel(id, reason?)');
      stringArg(args, 0, 'id');
      const reason = args[1] === undefined || args[1] === null ? 'canceled by request' : stringArg(args, 1, 'reason');
      if (reason.length > 1000) throw new InvalidInputError('params[1] (reason)', 'must be at most 1000 characters');
      // the arguments' types first, then whether the id can name a compose
      const id = composeIdArg(args);
      request.log.info({ composeId: id, reason }, 'compose cancel requested (XML-RPC)');
      return asJson(await cancelCompose(pool, id, reason));
    },
  },
  'compose.list': {
    params: 'compose.list(limit?: int = 20, offset?: int = 0) -> {total, limit, offset, items}',
    async run({ pool }, args) {
      arity(args, 0, 2, 'compose.list(limit?, offset?)');
      const limit = intArg(args, 0, 'limit', 1, 100, 20);
      const offset = intArg(args, 1, 'offset', 0, 1_000_000, 0);
      const page = await listComposes(pool, { limit, offset });
      return asJson({ total: page.total, limit, offset, items: page.items });
    },
  },
  'system.listMethods': {
    params: 'system.listMethods() -> [string]',
    async run(_ctx, args) {
      arity(args, 0, 0, 'system.listMethods()');
      return Object.keys(METHODS).sort();
    },
  },
  'system.methodHelp': {
    params: 'system.methodHelp(name: string) -> string',
    async run(_ctx, args) {
      arity(args, 1, 1, 'system.methodHelp(name)');
      const name = stringArg(args, 0, 'name');
      const m = Object.prototype.hasOwnProperty.call(METHODS, name) ? METHODS[name] : undefined;
      if (!m) throw new KilnError('KILN_NOT_FOUND', `no method ${JSON.stringify(name)}`);
      return m.params;
    },
  },
};

export const XMLRPC_METHODS: readonly string[] = Object.keys(METHODS).sort();

function sendFault(reply: FastifyReply, err: KilnError): FastifyReply {
  const faultString = err.code === 'KILN_INTERNAL' ? 'internal error' : err.message;
  // faults travel in a 200 response, as XML-RPC clients (Python's xmlrpc.client) expect
  return reply.code(200).type('text/xml; charset=utf-8').send(serializeFault(faultCodeOf(err), faultString));
}

export const xmlrpcRoutes: FastifyPluginAsync<XmlRpcOptions> = async (app, { pool, kojiServers, queueDefaults, s3, bodyLimit = 1024 * 1024 }) => {
  // this scope parses only XML, as raw bytes, capped; everything else is a fault
  app.removeAllContentTypeParsers();
  // An oversized body is still read (and dropped) up to drainLimit, so the caller gets the fault:
  // Python's http.client sends the whole body before it reads the answer, and a connection
  // closed under it ends in BrokenPipeError instead of a Fault that names the problem.
  const drainLimit = Math.max(4 * bodyLimit, 8 * 1024 * 1024);
  const tooLarge = () => new KilnError('KILN_PAYLOAD_TOO_LARGE', `request body is too large (limit ${bodyLimit} bytes)`);
  app.addContentTypeParser(['text/xml', 'application/xml'], (request, payload, done) => {
    const declared = Number(request.headers['content-length'] ?? 0);
    if (declared > drainLimit) return done(tooLarge(), undefined);
    const chunks: Buffer[] = [];
    let size = 0;
    let finished = false;
    const finish = (err: Error | null, body?: Buffer) => {
      if (finished) return;
      finished = true;
      done(err, body);
    };
    payload.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= bodyLimit) chunks.push(chunk);
      else chunks.length = 0;
      if (size > drainLimit) payload.destroy();
    });
    payload.on('end', () => finish(size > bodyLimit ? tooLarge() : null, size > bodyLimit ? undefined : Buffer.concat(chunks)));
    payload.on('error', (err) => finish(err));
    payload.on('close', () => finish(size > drainLimit ? tooLarge() : new InvalidInputError('(body)', 'the request ended before its body')));
  });
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const err = fromFastifyError(error, request);
    if (httpStatusOf(err) >= 500) request.log.error({ err: error }, 'XML-RPC call failed');
    else request.log.info({ code: err.code, reason: err.message }, 'XML-RPC call refused');
    return sendFault(reply, err);
  });

  const description = `XML-RPC (text/xml) for Koji-side Python: ${Object.values(METHODS).map((m) => m.params).join('; ')}. Errors are faults (faultCode as Koji's: 1019 ParameterError, 1002 AuthError, 1000 GenericError).`;
  app.post('/RPC2', { bodyLimit, schema: { summary: 'XML-RPC endpoint', description } as FastifySchema }, async (request, reply) => {
    const raw = request.body as Buffer | undefined;
    if (!raw || !raw.length) throw new InvalidInputError('(body)', 'is empty: expected an XML-RPC <methodCall>');
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
    } catch {
      throw new InvalidInputError('(body)', 'is not valid UTF-8');
    }
    const call = parseMethodCall(text);
    const method = Object.prototype.hasOwnProperty.call(METHODS, call.method) ? METHODS[call.method] : undefined;
    if (!method) throw new KilnError('KILN_NOT_FOUND', `no method ${JSON.stringify(call.method)} (see system.listMethods)`);
    request.log.debug({ method: call.method }, 'XML-RPC call');
    const result = await method.run({ pool, kojiServers, queueDefaults, s3, request }, call.params);
    return reply.code(200).type('text/xml; charset=utf-8').send(serializeResponse(result));
  });
};
