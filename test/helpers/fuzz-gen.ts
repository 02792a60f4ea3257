/**
 * fast-check generators for test/fuzz-api.test.ts: mutations of a valid compose request (each
 * one guaranteed to make the request invalid, with the field it breaks), XML-RPC documents
 * (wrong calls, malformed XML, XML bombs, CDATA, huge documents) and worker API bodies.
 */
import fc from 'fast-check';

export type Seg = string | number;
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export const HUB = 'https://koji.example.test/kojihub';

export function validCompose(): Record<string, any> {
  return {
    distribution: 'fedora-43',
    koji: { server: HUB, task_id: 4242, name: 'Fedora-Cloud', version: '43', release: '20261123.0' },
    image_requests: [
      {
        architecture: 'x86_64',
        image_type: 'guest-image',
        repositories: [{ baseurl: 'https://repos.example.test/f43/x86_64/', package_sets: ['os'], gpgkey: 'KEY' }],
        upload_options: { region: 'eu-west-1', bucket: 'bucket', key_prefix: 'x/' },
      },
    ],
    customizations: {
      packages: ['vim'],
      users: [{ name: 'alice', groups: ['wheel'] }],
      hostname: 'host',
      timezone: { timezone: 'Europe/Prague' },
      kernel: { append: 'quiet' },
      services: { enabled: ['sshd'] },
    },
  };
}

/** `['a', 0, 'b']` → `a[0].b`, the way Kiln names fields. */
export function fieldOf(path: readonly Seg[]): string {
  let out = '';
  for (const s of path) out += typeof s === 'number' ? `[${s}]` : out ? `.${s}` : s;
  return out;
}

/** One field names the other or one of its ancestors/descendants. */
export function related(a: string, b: string): boolean {
  const under = (x: string, y: string) => x === y || (x.startsWith(y) && (x[y.length] === '.' || x[y.length] === '['));
  return under(a, b) || under(b, a);
}

export function setAt(obj: any, path: readonly Seg[], value: unknown): void {
  let o = obj;
  for (const s of path.slice(0, -1)) o = o[s];
  o[path[path.length - 1]] = value;
}

export function deleteAt(obj: any, path: readonly Seg[]): void {
  let o = obj;
  for (const s of path.slice(0, -1)) o = o[s];
  delete o[path[path.length - 1]];
}

type Kind = 'string' | 'integer' | 'array' | 'object' | 'boolean';
interface FieldInfo {
  path: Seg[];
  kind: Kind;
  maxLength?: number;
  /** Pattern-restricted to ASCII names: traversal and non-ASCII text are never valid. */
  name?: boolean;
  minLength1?: boolean;
  required?: boolean;
  maxItems?: number;
  /** allowed keys of an object (for extra fields) */
  keys?: string[];
}

const IR: Seg[] = ['image_requests', 0];
const REPO: Seg[] = [...IR, 'repositories', 0];
const CUST: Seg[] = ['customizations'];

export const FIELDS: FieldInfo[] = [
  { path: [], kind: 'object', keys: ['distribution', 'image_request', 'image_requests', 'customizations', 'koji'] },
  { path: ['distribution'], kind: 'string', maxLength: 64, name: true, minLength1: true, required: true },
  { path: ['koji'], kind: 'object', required: true, keys: ['server', 'task_id', 'name', 'version', 'release'] },
  { path: ['koji', 'server'], kind: 'string', maxLength: 2048, minLength1: true, required: true },
  { path: ['koji', 'task_id'], kind: 'integer', required: true },
  { path: ['koji', 'name'], kind: 'string', maxLength: 255, name: true, minLength1: true, required: true },
  { path: ['koji', 'version'], kind: 'string', maxLength: 255, name: true, minLength1: true, required: true },
  { path: ['koji', 'release'], kind: 'string', maxLength: 255, name: true, minLength1: true, required: true },
  { path: ['image_requests'], kind: 'array', maxItems: 32 },
  { path: IR, kind: 'object', keys: ['architecture', 'image_type', 'repositories', 'size', 'ostree', 'upload_options'] },
  { path: [...IR, 'architecture'], kind: 'string', maxLength: 32, name: true, minLength1: true, required: true },
  { path: [...IR, 'image_type'], kind: 'string', maxLength: 64, name: true, minLength1: true, required: true },
  { path: [...IR, 'repositories'], kind: 'array', maxItems: 64, required: true },
  { path: REPO, kind: 'object', keys: ['baseurl', 'metalink', 'mirrorlist', 'gpgkey', 'check_gpg', 'check_repo_gpg', 'ignore_ssl', 'module_hotfixes', 'rhsm', 'package_sets'] },
  { path: [...REPO, 'baseurl'], kind: 'string', maxLength: 2048, minLength1: true },
  { path: [...REPO, 'gpgkey'], kind: 'string', maxLength: 65536, minLength1: true },
  { path: [...REPO, 'package_sets'], kind: 'array', maxItems: 16 },
  { path: [...REPO, 'package_sets', 0], kind: 'string', maxLength: 64, name: true, minLength1: true },
  { path: [...IR, 'upload_options'], kind: 'object', keys: ['region', 'bucket', 'key_prefix', 'public'] },
  { path: [...IR, 'upload_options', 'region'], kind: 'string', maxLength: 64, minLength1: true },
  { path: [...IR, 'upload_options', 'bucket'], kind: 'string', maxLength: 63 },
  { path: [...IR, 'upload_options', 'key_prefix'], kind: 'string', maxLength: 512 },
  { path: CUST, kind: 'object', keys: ['packages', 'users', 'hostname', 'timezone', 'kernel', 'services'] },
  { path: [...CUST, 'packages'], kind: 'array' },
  { path: [...CUST, 'packages', 0], kind: 'string', minLength1: true },
  { path: [...CUST, 'users', 0], kind: 'object', keys: ['name', 'key', 'groups', 'password'] },
  { path: [...CUST, 'users', 0, 'name'], kind: 'string', name: true, maxLength: 32, required: true },
  { path: [...CUST, 'users', 0, 'groups', 0], kind: 'string', name: true, maxLength: 32 },
  { path: [...CUST, 'hostname'], kind: 'string', name: true, maxLength: 254 },
  { path: [...CUST, 'timezone', 'timezone'], kind: 'string', name: true },
  { path: [...CUST, 'kernel', 'append'], kind: 'string' },
  { path: [...CUST, 'services', 'enabled', 0], kind: 'string', minLength1: true },
];

export interface ComposeCase {
  what: string;
  body: Record<string, any>;
  /** the field the error must name (or an ancestor/descendant of it) */
  field: string;
}

const TRAVERSALS = ['../../etc/passwd', '..%2f..%2fetc%2fpasswd', '..\\..\\windows\\win.ini', '/etc/passwd', 'a/../../b', './../x', '%2e%2e/%2e%2e/etc', 'x/..', '....//....//etc'];

/** Nested arrays/objects `depth` deep. */
export function deep(depth: number, leafValue: Json = 1, objects = false): Json {
  let v: Json = leafValue;
  for (let i = 0; i < depth; i++) v = objects ? { a: v } : [v];
  return v;
}

const nonAscii = fc
  .tuple(fc.string({ maxLength: 8 }), fc.constantFrom('é', 'ß', '名', '🔥', '\u202e', '\u00a0', 'İ', '\ufeff', 'Ａ'), fc.string({ unit: 'grapheme', maxLength: 8 }))
  .map(([a, u, b]) => `${a.replace(/[^a-z]/g, '')}${u}${b}`);

/** A JSON value of another type than `kind`. */
function otherType(kind: Kind): fc.Arbitrary<Json> {
  const all: Record<Kind, fc.Arbitrary<Json>> = {
    string: fc.string({ minLength: 1, maxLength: 20 }),
    integer: fc.integer(),
    array: fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
    object: fc.dictionary(fc.string({ minLength: 1, maxLength: 5 }), fc.integer(), { maxKeys: 3 }),
    boolean: fc.boolean(),
  };
  const others: fc.Arbitrary<Json>[] = [fc.constant(null), fc.integer({ min: 0, max: 10 }).map((d) => deep(d + 1, 'x', d % 2 === 0))];
  for (const [k, arb] of Object.entries(all)) if (k !== kind && !(kind === 'integer' && k === 'boolean' && false)) others.push(arb);
  if (kind === 'integer') others.push(fc.double({ noInteger: true, noDefaultInfinity: true, noNaN: true }));
  return fc.oneof(...others);
}

export function composeCase(): fc.Arbitrary<ComposeCase> {
  const pick = (pred: (f: FieldInfo) => boolean) => fc.constantFrom(...FIELDS.filter(pred));
  const build = (what: string, path: readonly Seg[], mutate: (b: Record<string, any>) => void, field = fieldOf(path)): ComposeCase => {
    const body = validCompose();
    mutate(body);
    return { what, body, field };
  };
  return fc.oneof(
    // wrong types (including deep nesting and null) anywhere
    fc.tuple(pick((f) => f.path.length > 0), fc.constant(0)).chain(([f]) =>
      otherType(f.kind).map((v) => build(`wrong type at ${fieldOf(f.path)}`, f.path, (b) => setAt(b, f.path, v))),
    ),
    // missing required fields
    pick((f) => !!f.required).map((f) => build(`missing ${fieldOf(f.path)}`, f.path, (b) => deleteAt(b, f.path))),
    // extra fields (unicode, __proto__-like, empty keys)
    fc
      .tuple(
        pick((f) => !!f.keys),
        fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: 'grapheme', maxLength: 6 }), fc.constantFrom('constructor', 'prototype', 'toString', '../x', '$ref')),
        fc.jsonValue({ maxDepth: 3 }),
      )
      .filter(([f, k]) => k !== '' && k !== '__proto__' && !f.keys!.includes(k))
      .map(([f, k, v]) => [f, k, k === 'constructor' ? 1 : v] as const)
      .map(([f, k, v]) => build(`extra field ${JSON.stringify(k)} in ${fieldOf(f.path) || '(root)'}`, [...f.path, k], (b) => setAt(b, [...f.path, k], v as Json))),
    // strings over their maximum length
    fc.tuple(pick((f) => f.kind === 'string' && !!f.maxLength), fc.integer({ min: 1, max: 200 }), fc.constantFrom('a', 'é', '🔥')).map(([f, extra, ch]) =>
      build(`huge string at ${fieldOf(f.path)}`, f.path, (b) => setAt(b, f.path, (f.maxLength! > 10_000 ? 'a' : ch).repeat(f.maxLength! + extra))),
    ),
    // empty strings where at least one character is required
    pick((f) => !!f.minLength1).map((f) => build(`empty string at ${fieldOf(f.path)}`, f.path, (b) => setAt(b, f.path, ''))),
    // path traversal in names (and in the hub URL, which must be a configured hub)
    fc.tuple(pick((f) => !!f.name || fieldOf(f.path) === 'koji.server'), fc.constantFrom(...TRAVERSALS), fc.boolean()).map(([f, t, prefix]) =>
      build(`traversal at ${fieldOf(f.path)}`, f.path, (b) => setAt(b, f.path, prefix && !t.startsWith('/') ? `ok${t}` : t)),
    ),
    // unicode in ASCII-only names
    fc.tuple(pick((f) => !!f.name), nonAscii).map(([f, s]) => build(`unicode at ${fieldOf(f.path)}`, f.path, (b) => setAt(b, f.path, s))),
    // NUL and lone surrogates in free text (Postgres jsonb cannot store them)
    fc.tuple(pick((f) => f.kind === 'string' && !f.name && fieldOf(f.path) !== 'koji.server' && !fieldOf(f.path).endsWith('baseurl')), fc.constantFrom('\u0000', '\ud800', '\udfff', 'a\u0000b', 'x\udc00')).map(([f, s]) =>
      build(`unstorable character at ${fieldOf(f.path)}`, f.path, (b) => setAt(b, f.path, `${fieldOf(f.path).endsWith('bucket') ? 'bkt' : ''}${s}`)),
    ),
    // numbers out of range
    fc
      .tuple(
        fc.constantFrom<Seg[]>(['koji', 'task_id'], [...IR, 'size']),
        fc.oneof(fc.integer({ max: -1 }), fc.constantFrom(-1, 2 ** 53, 1e300, -1e300, 9007199254740993, 0.5, -0.0001)),
      )
      .filter(([, n]) => !(Number.isInteger(n) && n >= 0 && n <= Number.MAX_SAFE_INTEGER))
      .map(([p, n]) => build(`number ${n} at ${fieldOf(p)}`, p, (b) => setAt(b, p, n))),
    // arrays too long (or empty where one item is required)
    fc.tuple(pick((f) => f.kind === 'array' && !!f.maxItems), fc.integer({ min: 1, max: 40 }), fc.boolean()).map(([f, extra, empty]) =>
      build(`array length at ${fieldOf(f.path)}`, f.path, (b) => {
        const item = (b as any);
        let o = item;
        for (const s of f.path) o = o[s];
        const one = (o as Json[])[0];
        const empties = fieldOf(f.path).endsWith('package_sets');
        setAt(b, f.path, empty && !empties ? [] : Array.from({ length: f.maxItems! + extra }, () => structuredClone(one)));
      }),
    ),
    // unsupported but well-formed distro / arch / image type, and a hub this Kiln does not know
    fc.constantFrom<[Seg[], string]>(
      [['distribution'], 'fedora-12'],
      [['distribution'], 'rhel-1'],
      [[...IR, 'architecture'], 'mips64el'],
      [[...IR, 'image_type'], 'iso-of-doom'],
      [['koji', 'server'], 'https://other.example/kojihub'],
    ).map(([p, v]) => build(`unsupported ${v}`, p, (b) => setAt(b, p, v))),
    // deep nesting in place of a value
    fc.tuple(pick((f) => f.path.length > 0 && f.kind !== 'array'), fc.integer({ min: 20, max: 3000 }), fc.boolean()).map(([f, d, objects]) =>
      build(`nesting ${d} at ${fieldOf(f.path)}`, f.path, (b) => setAt(b, f.path, deep(d, 'x', objects))),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// XML-RPC

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A JSON value as an XML-RPC <value>. */
export function xmlValue(v: unknown): string {
  if (v === null || v === undefined) return '<value><nil/></value>';
  if (typeof v === 'boolean') return `<value><boolean>${v ? 1 : 0}</boolean></value>`;
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) return v >= -(2 ** 31) && v < 2 ** 31 ? `<value><int>${v}</int></value>` : `<value><i8>${v}</i8></value>`;
    return `<value><double>${String(v)}</double></value>`;
  }
  if (typeof v === 'string') return `<value><string>${esc(v)}</string></value>`;
  if (Array.isArray(v)) return `<value><array><data>${v.map(xmlValue).join('')}</data></array></value>`;
  return `<value><struct>${Object.entries(v as Record<string, unknown>)
    .map(([k, x]) => `<member><name>${esc(k)}</name>${xmlValue(x)}</member>`)
    .join('')}</struct></value>`;
}

export function methodCall(method: string, params: string[]): string {
  return `<?xml version="1.0"?>\n<methodCall><methodName>${method}</methodName><params>${params.map((p) => `<param>${p}</param>`).join('')}</params></methodCall>\n`;
}

export interface XmlCase {
  what: string;
  body: string | Buffer;
  /** what the faultString must mention */
  names: RegExp;
  /** a fault is required (false: a result is acceptable too) */
  mustFault: boolean;
  /** the field the faultString must start with (or an ancestor/descendant of it) */
  field?: string;
}

/** A random XML-RPC value that is not a non-empty string. */
const notAString: fc.Arbitrary<string> = fc.oneof(
  fc.integer().map((n) => xmlValue(n)),
  fc.boolean().map((b) => xmlValue(b)),
  fc.constant(xmlValue(null)),
  fc.constant('<value><string></string></value>'),
  fc.constant('<value></value>'),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => `<value><double>${d.toExponential()}</double></value>`),
  fc.array(fc.string({ maxLength: 4 }), { maxLength: 3 }).map((a) => xmlValue(a)),
  fc.dictionary(fc.string({ minLength: 1, maxLength: 4 }), fc.string({ maxLength: 4 }), { maxKeys: 3 }).map((d) => xmlValue(d)),
  fc.uint8Array({ maxLength: 12 }).map((b) => `<value><base64>${Buffer.from(b).toString('base64')}</base64></value>`),
);
const anyValue: fc.Arbitrary<string> = fc.oneof(notAString, fc.constant('<value><dateTime.iso8601>20261123T19:00:00</dateTime.iso8601></value>'), fc.string({ minLength: 1, maxLength: 30 }).map((s) => xmlValue(s)));

const BOMBS: [string, string][] = [
  [
    'billion laughs',
    `<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n${Array.from({ length: 9 }, (_, i) => ` <!ENTITY lol${i + 1} "${`&lol${i || ''};`.repeat(10)}">`).join('\n')}\n]>\n<methodCall><methodName>compose.status</methodName><params><param><value><string>&lol9;</string></value></param></params></methodCall>`,
  ],
  ['quadratic blowup', `<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "${'a'.repeat(50_000)}">]><methodCall><methodName>compose.status</methodName><params><param><value>${'&a;'.repeat(5000)}</value></param></params></methodCall>`],
  ['XXE file', `<?xml version="1.0"?><!DOCTYPE m [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><methodCall><methodName>compose.status</methodName><params><param><value>&xxe;</value></param></params></methodCall>`],
  ['XXE http', `<!DOCTYPE m [<!ENTITY xxe SYSTEM "http://127.0.0.1:1/x">]><methodCall><methodName>&xxe;</methodName></methodCall>`],
  ['parameter entity', `<!DOCTYPE m [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><methodCall><methodName>system.listMethods</methodName></methodCall>`],
  ['external DTD', `<?xml version="1.0"?>\n<!DOCTYPE methodCall SYSTEM "file:///etc/passwd"><methodCall><methodName>system.listMethods</methodName></methodCall>`],
  ['lowercase doctype', `<!doctype m [<!ENTITY a "b">]><methodCall><methodName>system.listMethods</methodName></methodCall>`],
  ['doctype after a comment', `<?xml version="1.0"?><!-- hi --><!DOCTYPE m [<!ENTITY a "b">]><methodCall><methodName>system.listMethods</methodName></methodCall>`],
  ['doctype inside the element', `<methodCall><!DOCTYPE m [<!ENTITY a "b">]><methodName>system.listMethods</methodName></methodCall>`],
  ['entity declaration alone', `<!ENTITY a "b"><methodCall><methodName>system.listMethods</methodName></methodCall>`],
  ['undeclared entity', `<methodCall><methodName>compose.status</methodName><params><param><value>&lol9;</value></param></params></methodCall>`],
];
const BOMB_REASON = /DOCTYPE|ENTITY|entit/i;

/** Mutations that always break a well-formed document. */
function malformed(doc: string): fc.Arbitrary<XmlCase> {
  const end = doc.lastIndexOf('</methodCall>');
  const tags = [...doc.matchAll(/<\/([A-Za-z]+)>/g)].map((m) => ({ at: m.index!, name: m[1] }));
  const texts = [...doc.matchAll(/>[^<]*</g)].map((m) => m.index! + 1).filter((i) => i > doc.indexOf('<methodCall>'));
  const mk = (what: string, body: string | Buffer): XmlCase => ({ what, body, names: /malformed XML at line \d+, column \d+|UTF-8|empty/, mustFault: true });
  return fc.oneof(
    fc.integer({ min: 0, max: end + 12 }).map((n) => mk(`truncated at ${n}`, doc.slice(0, n))),
    fc.tuple(fc.constantFrom(...tags), fc.constantFrom('x', 'Value', 'methodcall', 'params2')).map(([t, name]) =>
      mk(`</${t.name}> renamed`, `${doc.slice(0, t.at)}</${name}>${doc.slice(t.at + t.name.length + 3)}`),
    ),
    fc.constantFrom(...tags).map((t) => mk(`</${t.name}> dropped`, doc.slice(0, t.at) + doc.slice(t.at + t.name.length + 3))),
    fc.tuple(fc.constantFrom(...texts), fc.constantFrom('&bogus;', '& ', '&#0;', '&#xD800;', '\u0001', '\u0000', '\ufffe', ']]>', '&#x110000;', '&amp', '<', '<!', '<?pi?>', '<!-- x', '<![CDATA[x')).map(([i, ins]) =>
      mk(`${JSON.stringify(ins)} inserted at ${i}`, doc.slice(0, i) + ins + doc.slice(i)),
    ),
    fc.constantFrom(
      mk('two roots', doc + '<methodCall/>'),
      mk('text before the root', 'hello ' + doc),
      mk('duplicate attribute', doc.replace('<methodCall>', '<methodCall a="1" a="2">')),
      mk('unquoted attribute', doc.replace('<methodCall>', '<methodCall a=1>')),
      mk('latin-1 encoding', doc.replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="ISO-8859-1"?>')),
      mk('invalid UTF-8', Buffer.concat([Buffer.from(doc.slice(0, end)), Buffer.from([0xc3, 0x28, 0xff, 0xfe]), Buffer.from(doc.slice(end))])),
      mk('UTF-16', Buffer.from('\ufeff' + doc, 'utf16le')),
      mk('empty', ''),
      mk('whitespace only', ' \n\t '),
    ),
  );
}

export function xmlCase(composeCases: fc.Arbitrary<ComposeCase>, bodyLimit: number): fc.Arbitrary<XmlCase> {
  const anyUuid = fc.uuid({ version: 4 });
  const wrongArity = (method: string, min: number, max: number, sig: RegExp) =>
    fc
      .array(anyValue, { maxLength: max + 3 })
      .filter((a) => a.length < min || a.length > max)
      .map((a): XmlCase => ({ what: `${method} with ${a.length} params`, body: methodCall(method, a), names: sig, mustFault: true }));
  const wellFormedWrong: fc.Arbitrary<XmlCase> = fc.oneof(
    composeCases.map((c): XmlCase => {
      const body = methodCall('compose.create', [xmlValue(c.body)]);
      // deep values may hit the parser's depth limit before the request is looked at
      if (c.what.startsWith('nesting ')) return { what: `compose.create: ${c.what}`, body, names: /elements nested deeper than 64|^(distribution|koji|image_requests|customizations)/, mustFault: true };
      return { what: `compose.create: ${c.what}`, body, names: /./, field: c.field, mustFault: true };
    }),
    notAString.map((v): XmlCase => ({ what: 'compose.create with a non-struct', body: methodCall('compose.create', [v]), names: /^\(body\)|is required|must be object/, mustFault: true })),
    wrongArity('compose.create', 1, 1, /^params: compose\.create\(request\) takes 1/),
    wrongArity('compose.status', 1, 1, /^params: compose\.status\(id\) takes 1/),
    wrongArity('compose.logs', 1, 1, /^params: compose\.logs/),
    wrongArity('compose.cancel', 1, 2, /^params: compose\.cancel\(id, reason\?\) takes 1 to 2/),
    wrongArity('compose.list', 0, 2, /^params: compose\.list/),
    wrongArity('system.listMethods', 0, 0, /^params: system\.listMethods/),
    fc.tuple(fc.constantFrom('compose.status', 'compose.logs', 'compose.cancel', 'system.methodHelp'), notAString).map(([m, v]): XmlCase => ({ what: `${m} with a non-string id`, body: methodCall(m, [v]), names: /^params\[0\] \((id|name)\): must be a non-empty string/, mustFault: true })),
    fc.tuple(fc.constantFrom('compose.status', 'compose.logs', 'compose.cancel'), fc.oneof(anyUuid, fc.string({ minLength: 1, maxLength: 200 }).filter((s) => s.trim() === s && !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff\ud800-\udfff]/.test(s)), fc.constantFrom('../../etc/passwd', "' OR 1=1 --", '%00', 'x'.repeat(65), '🔥'))).map(([m, id]): XmlCase => ({
      what: `${m}(${JSON.stringify(id).slice(0, 40)})`,
      body: methodCall(m, [xmlValue(id)]),
      names: /compose .* not found|^params\[0\]/s,
      mustFault: true,
    })),
    fc.tuple(fc.oneof(anyUuid, fc.constant('nope')), notAString.filter((v) => !v.includes('<nil/>'))).map(([id, v]): XmlCase => ({ what: 'compose.cancel with a bad reason', body: methodCall('compose.cancel', [xmlValue(id), v]), names: /^params\[1\] \(reason\)|not found/, mustFault: true })),
    fc.constant<XmlCase>({ what: 'compose.cancel with a reason too long', body: methodCall('compose.cancel', [xmlValue('id'), xmlValue('r'.repeat(1001))]), names: /^params\[1\] \(reason\): must be at most 1000/, mustFault: true }),
    fc.tuple(fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: 101 }), fc.constant(2 ** 31 - 1)), fc.boolean()).map(([n, second]): XmlCase => ({
      what: `compose.list with ${n}`,
      body: methodCall('compose.list', second ? [xmlValue(20), xmlValue(n < 0 ? n : 1_000_001 + Math.abs(n))] : [xmlValue(n)]),
      names: second ? /^params\[1\] \(offset\)/ : /^params\[0\] \(limit\)/,
      mustFault: true,
    })),
    fc.tuple(fc.constantFrom('compose.list', 'compose.create'), notAString.filter((v) => !v.includes('<nil/>') && !v.includes('<int>') && !v.includes('<double>'))).map(([m, v]): XmlCase => ({ what: `${m} with ${v.slice(0, 30)}`, body: methodCall(m, [v]), names: m === 'compose.list' ? /^params\[0\] \(limit\)/ : /./, mustFault: true })),
    fc.oneof(fc.constantFrom('compose.nope', 'system.multicall', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'compose.create.x'), fc.stringMatching(/^[A-Za-z0-9_.]{1,40}$/)).filter((m) => !['compose.create', 'compose.status', 'compose.logs', 'compose.cancel', 'compose.list', 'system.listMethods', 'system.methodHelp'].includes(m)).map((m): XmlCase => ({ what: `unknown method ${m}`, body: methodCall(m, []), names: /no method/, mustFault: true })),
    fc.oneof(fc.constantFrom('../../etc/passwd', 'a b', ''), fc.string({ minLength: 129, maxLength: 200 }).map((s) => `m${s}m`)).map((m): XmlCase => ({ what: `bad method name`, body: methodCall(esc(m), []), names: /^methodName|^no method/, mustFault: true })),
    fc.constantFrom<XmlCase>(
      { what: 'wrong root', body: '<methodResponse><params/></methodResponse>', names: /^\(body\): expected <methodCall>/, mustFault: true },
      { what: 'no methodName', body: '<methodCall><params/></methodCall>', names: /^methodName/, mustFault: true },
      { what: 'bad int', body: methodCall('compose.list', ['<value><int>12x</int></value>']), names: /^params\[0\]: <int>/, mustFault: true },
      { what: 'int too big', body: methodCall('compose.list', ['<value><int>99999999999</int></value>']), names: /^params\[0\]: integer .* does not fit/, mustFault: true },
      { what: 'i8 too big', body: methodCall('compose.list', ['<value><i8>999999999999999999999</i8></value>']), names: /^params\[0\]:/, mustFault: true },
      { what: 'bad boolean', body: methodCall('compose.list', ['<value><boolean>yes</boolean></value>']), names: /^params\[0\]: <boolean>/, mustFault: true },
      { what: 'bad double', body: methodCall('compose.list', ['<value><double>NaN</double></value>']), names: /^params\[0\]: <double>/, mustFault: true },
      { what: 'bad base64', body: methodCall('compose.status', ['<value><base64>!!!</base64></value>']), names: /^params\[0\]: <base64>/, mustFault: true },
      { what: 'unknown type', body: methodCall('compose.status', ['<value><bigint>1</bigint></value>']), names: /^params\[0\]: unknown XML-RPC type <bigint>/, mustFault: true },
      { what: 'two values in a param', body: methodCall('compose.status', ['<value>a</value><value>b</value>']), names: /^params\[0\]/, mustFault: true },
      { what: 'member without value', body: methodCall('compose.create', ['<value><struct><member><name>a</name></member></struct></value>']), names: /^params\[0\]: <member>/, mustFault: true },
      { what: 'member twice', body: methodCall('compose.create', ['<value><struct><member><name>a</name><value>1</value></member><member><name>a</name><value>1</value></member></struct></value>']), names: /^params\[0\]\.a: is given twice/, mustFault: true },
      { what: 'array without data', body: methodCall('compose.status', ['<value><array><value>1</value></array></value>']), names: /^params\[0\]: <array> must hold <data>/, mustFault: true },
      { what: 'non-empty nil', body: methodCall('compose.status', ['<value><nil>x</nil></value>']), names: /^params\[0\]: <nil\/> must be empty/, mustFault: true },
    ),
  );
  // CDATA: well-formed calls whose text comes (partly) in CDATA sections
  const cdata: fc.Arbitrary<XmlCase> = fc.oneof(
    anyUuid.map((id): XmlCase => ({ what: 'CDATA id', body: methodCall('compose.status', [`<value><string><![CDATA[${id}]]></string></value>`]), names: new RegExp(`compose ${id} not found`), mustFault: true })),
    fc.string({ maxLength: 20 }).map((s): XmlCase => {
      const text = '<value><string><![CDATA[<x>&lol;' + s.split(']]>').join('') + ']]]]><![CDATA[>]]></string></value>';
      return { what: 'CDATA with markup', body: methodCall('compose.status', [text]), names: /not found|malformed|not allowed|^params/, mustFault: true };
    }),
    fc.constant<XmlCase>({ what: 'CDATA method name', body: `<methodCall><methodName><![CDATA[compose.nope]]></methodName></methodCall>`, names: /no method "compose.nope"/, mustFault: true }),
    fc.constant<XmlCase>({ what: 'unterminated CDATA', body: `<methodCall><methodName><![CDATA[compose.list</methodName></methodCall>`, names: /unterminated CDATA/, mustFault: true }),
    fc.constant<XmlCase>({ what: 'CDATA outside the root', body: `<![CDATA[x]]><methodCall><methodName>compose.list</methodName></methodCall>`, names: /malformed XML/, mustFault: true }),
  );
  const bombs = fc.constantFrom(...BOMBS).map(([what, body]): XmlCase => ({ what, body, names: BOMB_REASON, mustFault: true }));
  // huge documents: over the limit, many elements under it, deep nesting, long text
  const huge: fc.Arbitrary<XmlCase> = fc.oneof(
    fc.integer({ min: 1, max: bodyLimit }).map((extra): XmlCase => ({ what: `${bodyLimit + extra} bytes`, body: methodCall('compose.status', [xmlValue('x'.repeat(bodyLimit + extra))]), names: new RegExp(`too large \\(limit ${bodyLimit} bytes\\)`), mustFault: true })),
    fc.integer({ min: 1000, max: Math.floor(bodyLimit / 40) }).map((n): XmlCase => ({ what: `${n} values in an array`, body: methodCall('compose.status', [`<value><array><data>${'<value><int>1</int></value>\n'.repeat(n)}</data></array></value>`]), names: /^params\[0\] \(id\): must be a non-empty string/, mustFault: true })),
    fc.integer({ min: 1000, max: Math.floor(bodyLimit / 50) }).map((n): XmlCase => ({ what: `${n} params`, body: methodCall('compose.status', Array.from({ length: n }, () => '<value><i4>7</i4></value>')), names: /^params: compose\.status\(id\) takes 1 parameter\(s\), got \d+/, mustFault: true })),
    fc.integer({ min: 65, max: 2500 }).map((d): XmlCase => ({ what: `nesting ${d}`, body: methodCall('compose.status', [`${'<value><array><data>'.repeat(d)}${'</data></array></value>'.repeat(d)}`]), names: /nested deeper than 64/, mustFault: true })),
    fc.integer({ min: 100, max: Math.floor(bodyLimit / 3) }).map((n): XmlCase => ({ what: `id of ${n} chars`, body: methodCall('compose.logs', [xmlValue('é'.repeat(n))]), names: /not found|^params\[0\]/, mustFault: true })),
    fc.integer({ min: 1000, max: Math.floor(bodyLimit / 20) }).map((n): XmlCase => ({ what: `${n} comments`, body: `<methodCall>${'<!-- c -->\n'.repeat(n)}<methodName>compose.nope</methodName></methodCall>`, names: /no method/, mustFault: true })),
  );
  const malformedCases = fc.oneof(
    malformed(methodCall('compose.status', [xmlValue('00000000-0000-4000-8000-000000000000')])),
    malformed(methodCall('compose.list', [xmlValue(5), xmlValue(0)])),
    malformed(methodCall('compose.create', [xmlValue(validCompose())])),
    fc.constantFrom<XmlCase>(
      { what: 'end tag before the root', body: `</methodCall>${methodCall('compose.list', [])}`, names: /malformed XML at line 1, column 1: expected an element/, mustFault: true },
      { what: 'CDATA before the root', body: `<![CDATA[x]]>${methodCall('compose.list', [])}`, names: /malformed XML at line 1, column 1: expected an element/, mustFault: true },
    ),
  );
  return fc.oneof(
    { arbitrary: wellFormedWrong, weight: 5 },
    { arbitrary: malformedCases, weight: 4 },
    { arbitrary: bombs, weight: 1 },
    { arbitrary: cdata, weight: 1 },
    { arbitrary: huge, weight: 1 },
  );
}
