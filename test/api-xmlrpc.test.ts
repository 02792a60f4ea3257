import test from 'ava';
import { spawn } from 'node:child_process';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/api/app.js';
import { parseMethodCall, serializeResponse } from '../src/api/xmlrpc.js';
import { silentLogger } from '../src/log.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';

const HUB = 'https://koji.example.test/kojihub';

let db: TestDatabase;
let app: FastifyInstance;
let url: string;

test.before(async () => {
  db = await createTestDatabase();
  app = await buildApp({ pool: db.pool, log: silentLogger, kojiServers: [HUB] });
  url = `${await app.listen({ host: '127.0.0.1', port: 0 })}/RPC2`;
});
test.after.always(async () => {
  await app?.close();
  await db?.drop();
});

/** Runs Python (standard library only) with `url` as argv[1] and `stdin`; the script prints one JSON document. */
function python(script: string, args: string[] = [], stdin = ''): Promise<any> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/python3', ['-c', script, url, ...args], { stdio: ['pipe', 'pipe', 'pipe'], timeout: 30_000 });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`python exited ${code}: ${err}`));
      try {
        resolve(JSON.parse(out));
      } catch (e) {
        reject(new Error(`python printed no JSON: ${out} ${err}`, { cause: e }));
      }
    });
    child.stdin.end(stdin);
  });
}

const PY_PRELUDE = `
import json, sys, xmlrpc.client
url = sys.argv[1]
s = xmlrpc.client.ServerProxy(url, allow_none=True)
def fault(fn):
    try:
        fn()
    except xmlrpc.client.Fault as f:
        return {"faultCode": f.faultCode, "faultString": f.faultString}
    return None
`;

const REQUEST = {
  distribution: 'fedora-43',
  koji: { server: HUB, task_id: 77, name: 'Fedora-Cloud', version: '43', release: '1' },
  image_requests: [{ architecture: 'x86_64', image_type: 'guest-image', repositories: [{ baseurl: 'https://repos.example.test/f43/x86_64/' }] }],
};

test.serial('the Koji hub plugin\'s calls: compose.check, kickstart.translate, compose.outputs', async (t) => {
  const out = await python(
    `${PY_PRELUDE}
req = json.loads(sys.argv[2])
ok = s.compose.check(req)
req["blueprint"] = {"customizations": {"installer": {"unattended": True}}}
bad = fault(lambda: s.compose.check(req))
ks = s.kickstart.translate("timezone Etc/UTC\\n%post\\ntrue\\n%end\\n")
del req["blueprint"]
cid = s.compose.create(req)
outputs = s.compose.outputs(cid)
print(json.dumps({"ok": ok, "bad": bad, "ks": ks, "outputs": outputs}))
`,
    [JSON.stringify({ ...REQUEST, koji: { ...REQUEST.koji, scratch: true } })],
  );
  t.deepEqual(out.ok.images, [{ arch: 'x86_64', image_type: 'generic-qcow2', filename: 'Fedora-Cloud-43-1.x86_64.qcow2' }]);
  t.deepEqual(out.bad, { faultCode: 1019, faultString: 'blueprint.customizations.installer.unattended: is not supported by image type generic-qcow2' });
  t.deepEqual(out.ks.blueprint, { name: 'kickstart', customizations: { timezone: { timezone: 'Etc/UTC' } } });
  t.deepEqual(out.ks.not_applied.map((n: { line: number }) => n.line), [2]);
  t.like(out.outputs, { kind: 'ComposeOutputs', koji: { scratch: true, task_id: 77 } });
});

test.serial('a Python xmlrpc.client creates, reads, lists and cancels a compose', async (t) => {
  const out = await python(
    `${PY_PRELUDE}
req = json.loads(sys.argv[2])
cid = s.compose.create(req)
st1 = s.compose.status(cid)
logs = s.compose.logs(cid)
lst = s.compose.list(5)
st2 = s.compose.cancel(cid, "no longer needed")
st3 = s.compose.status(cid)
print(json.dumps({"id": cid, "st1": st1, "logs": logs, "list": lst, "st2": st2, "st3": st3,
                  "methods": s.system.listMethods(), "worker": logs["image_builds"][0]["osbuild"]["worker"]}))
`,
    [JSON.stringify(REQUEST)],
  );
  t.regex(out.id, /^[0-9a-f-]{36}$/);
  t.like(out.st1, { id: out.id, kind: 'ComposeStatus', status: 'pending', image_statuses: [{ status: 'pending' }], koji_status: { task_id: 77 } });
  t.is(out.logs.image_builds.length, 1);
  t.is(out.worker, null, '<nil/> arrives as None');
  t.is(out.list.items[0].id, out.id);
  t.is(out.list.limit, 5);
  // koji-finalize still has to refund the build (no worker runs here), the images are failed already
  t.like(out.st3, { status: 'pending', image_statuses: [{ status: 'failure', error: { id: 26 } }] });
  t.regex(out.st3.image_statuses[0].error.reason, /canceled: no longer needed/);
  t.deepEqual(out.methods, [
    'compose.cancel', 'compose.check', 'compose.create', 'compose.list', 'compose.logs', 'compose.outputs', 'compose.status', 'kickstart.translate',
    'system.listMethods', 'system.methodHelp',
  ]);
  const owner = await db.pool.query('SELECT koji_task_id FROM kiln_composes WHERE id = $1', [out.id]);
  t.is(owner.rows[0].koji_task_id, 77);
});

test.serial('errors are faults with Koji fault codes and the offending field', async (t) => {
  const bad = structuredClone(REQUEST) as any;
  delete bad.koji.release;
  const out = await python(
    `${PY_PRELUDE}
bad = json.loads(sys.argv[2])
print(json.dumps({
  "invalid": fault(lambda: s.compose.create(bad)),
  "unknown_method": fault(lambda: s.compose.explode()),
  "not_found": fault(lambda: s.compose.status("00000000-0000-0000-0000-000000000000")),
  "bad_arg": fault(lambda: s.compose.status(42)),
  "arity": fault(lambda: s.compose.list(1, 2, 3)),
  "bad_limit": fault(lambda: s.compose.list(1000)),
  "hub": fault(lambda: s.compose.create(dict(bad, koji=dict(bad["koji"], release="1", server="https://evil.example/kojihub")))),
}))
`,
    [JSON.stringify(bad)],
  );
  t.is(out.invalid.faultCode, 1019);
  t.regex(out.invalid.faultString, /^koji\.release: is required/);
  t.is(out.unknown_method.faultCode, 1000);
  t.regex(out.unknown_method.faultString, /no method "compose\.explode"/);
  t.is(out.not_found.faultCode, 1000);
  t.regex(out.not_found.faultString, /not found/);
  t.like(out.bad_arg, { faultCode: 1019 });
  t.regex(out.bad_arg.faultString, /params\[0\] \(id\): must be a non-empty string/);
  t.regex(out.arity.faultString, /takes 0 to 2 parameter/);
  t.regex(out.bad_limit.faultString, /params\[0\] \(limit\): must be an integer from 1 to 100/);
  t.regex(out.hub.faultString, /^koji\.server: .*not a Koji hub/);
});

test.serial('compose.create takes a blueprint (TOML read by Python, as a Koji task passes it) and composer customizations', async (t) => {
  const toml = `name = "web"
version = "1.0.0"
[[packages]]
name = "tmux"
[customizations]
hostname = "web01"
[[customizations.user]]
name = "alice"
password = "hunter2"
groups = ["wheel"]
[[customizations.filesystem]]
mountpoint = "/var"
minsize = "4 GiB"
`;
  const out = await python(
    `${PY_PRELUDE}
import tomllib
req = json.loads(sys.argv[2])
bp = tomllib.loads(sys.stdin.read())
with_bp = s.compose.create(dict(req, blueprint=bp))
# composer's min_size is an integer of bytes: beyond 32 bits Python's marshaller refuses an int, so it goes as a double
with_c = s.compose.create(dict(req, customizations={"filesystem": [{"mountpoint": "/var", "min_size": float(4 * 2**30)}], "packages": ["tmux"]}))
print(json.dumps({
  "with_bp": with_bp,
  "with_c": with_c,
  "both": fault(lambda: s.compose.create(dict(req, blueprint=bp, customizations={"hostname": "x"}))),
  "bad_bp": fault(lambda: s.compose.create(dict(req, blueprint=dict(bp, customizations={"user": [{"name": "root", "uid": "zero"}]})))),
  "unsupported": fault(lambda: s.compose.create(dict(req, customizations={"installation_device": "/dev/sda"}))),
}))
`,
    [JSON.stringify(REQUEST)],
    toml,
  );
  const jobs = async (id: string) => (await db.pool.query(`SELECT args FROM kiln_jobs WHERE compose_id = $1 AND type = 'osbuild'`, [id])).rows[0].args;
  const bpArgs = await jobs(out.with_bp);
  t.like(bpArgs.blueprint, { name: 'web', version: '1.0.0', packages: [{ name: 'tmux' }], customizations: { hostname: 'web01', filesystem: [{ mountpoint: '/var', minsize: '4 GiB' }] } });
  t.regex(bpArgs.blueprint.customizations.user[0].password, /^\$6\$/);
  const stored = (await db.pool.query('SELECT request FROM kiln_composes WHERE id = $1', [out.with_bp])).rows[0].request;
  t.false(JSON.stringify(stored).includes('hunter2'), 'the stored request has the crypted password only');
  t.deepEqual((await jobs(out.with_c)).blueprint, { packages: [{ name: 'tmux' }], customizations: { filesystem: [{ mountpoint: '/var', minsize: 4 * 2 ** 30 }] } });
  t.is(out.both.faultCode, 1019);
  t.regex(out.both.faultString, /^blueprint: give either customizations or blueprint, not both/);
  t.regex(out.bad_bp.faultString, /^blueprint\.customizations\.user\[0\]\.uid: must be integer/);
  t.regex(out.unsupported.faultString, /^customizations\.installation_device: is not supported by image type /);
});

/** Posts raw bodies with http.client and decodes each answer with xmlrpc.client.loads. */
async function rawCalls(bodies: (string | Buffer)[], contentType = 'text/xml'): Promise<any[]> {
  return python(
    `
import base64, json, sys, http.client, urllib.parse, xmlrpc.client
u = urllib.parse.urlparse(sys.argv[1])
out = []
for b64 in json.load(sys.stdin):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=20)
    c.request("POST", u.path, body=base64.b64decode(b64), headers={"Content-Type": sys.argv[2]})
    r = c.getresponse()
    body = r.read()
    item = {"http": r.status}
    try:
        item["result"] = xmlrpc.client.loads(body, use_builtin_types=True)[0][0]
    except xmlrpc.client.Fault as f:
        item.update(faultCode=f.faultCode, faultString=f.faultString)
    out.append(item)
    c.close()
print(json.dumps(out, default=str))
`,
    [contentType],
    JSON.stringify(bodies.map((b) => Buffer.from(b).toString('base64'))),
  );
}

const BILLION_LAUGHS = `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<methodCall><methodName>compose.status</methodName><params><param><value><string>&lol9;</string></value></param></params></methodCall>`;

test.serial('malformed XML, XML bombs and oversized bodies are refused with faults', async (t) => {
  const started = Date.now();
  const [malformed, unclosed, bomb, entity, notCall, i8, oversized] = await rawCalls([
    '<methodCall><methodName>compose.list</methodName><params></methodCall>',
    '<methodCall><methodName>compose.list</methodName>',
    BILLION_LAUGHS,
    '<methodCall><methodName>compose.status</methodName><params><param><value>&xxe;</value></param></params></methodCall>',
    '<methodResponse><params/></methodResponse>',
    // a task id beyond 32 bits goes in as <i8> and comes back as <i8>
    `<?xml version="1.0"?><methodCall><methodName>compose.create</methodName><params><param><value><struct>
      <member><name>distribution</name><value>fedora-43</value></member>
      <member><name>koji</name><value><struct>
        <member><name>server</name><value><string>${HUB}</string></value></member>
        <member><name>task_id</name><value><i8>5000000000</i8></value></member>
        <member><name>name</name><value>n</value></member><member><name>version</name><value>1</value></member>
        <member><name>release</name><value>1</value></member></struct></value></member>
      <member><name>image_request</name><value><struct>
        <member><name>architecture</name><value>x86_64</value></member>
        <member><name>image_type</name><value>guest-image</value></member>
        <member><name>repositories</name><value><array><data><value><struct>
          <member><name>baseurl</name><value>https://r.example.test/</value></member></struct></value></data></array></value></member>
      </struct></value></member></struct></value></param></params></methodCall>`,
    Buffer.alloc(2 * 1024 * 1024 + 10, 'a'),
  ]);
  t.true(Date.now() - started < 20_000);
  t.like(malformed, { http: 200, faultCode: 1019 });
  t.regex(malformed.faultString, /^\(body\): malformed XML at line 1, column \d+: <\/methodCall> does not close <params>/);
  t.regex(unclosed.faultString, /malformed XML .*unexpected end of document inside <methodCall>/);
  t.like(bomb, { http: 200, faultCode: 1019 });
  t.regex(bomb.faultString, /DOCTYPE and ENTITY declarations are not allowed/);
  t.regex(entity.faultString, /unknown entity &xxe; \(entities are not expanded\)/);
  t.regex(notCall.faultString, /expected <methodCall>, found <methodResponse>/);
  t.is(typeof i8.result, 'string', JSON.stringify(i8));
  t.like(oversized, { http: 200, faultCode: 1019 });
  t.regex(oversized.faultString, /too large/);

  const [status] = await python(
    `${PY_PRELUDE}
print(json.dumps([s.compose.status(sys.argv[2])]))`,
    [i8.result],
  );
  t.is(status.koji_status.task_id, 5_000_000_000);

  const [wrongType] = await rawCalls(['{"method":"compose.list"}'], 'application/json');
  t.like(wrongType, { http: 200, faultCode: 1019 });
  t.regex(wrongType.faultString, /content-type/);
});

test('the parser keeps values exact and refuses what XML-RPC does not allow', (t) => {
  const call = parseMethodCall(
    `<?xml version="1.0"?><!-- c --><methodCall><methodName>m</methodName><params>
      <param><value><struct><member><name>__proto__</name><value><int>1</int></value></member></struct></value></param>
      <param><value><string>a &lt;&amp;&gt; &#x263A; <![CDATA[<raw>]]></string></value></param>
      <param><value><nil/></value></param><param><value><boolean>1</boolean></value></param>
      <param><value><double>-1.5e3</double></value></param><param><value><base64>aGk=</base64></value></param>
    </params></methodCall>`,
  );
  const proto = call.params[0] as Record<string, unknown>;
  t.is(Object.getPrototypeOf(proto), Object.prototype);
  t.deepEqual(Object.getOwnPropertyDescriptor(proto, '__proto__')?.value, 1);
  t.deepEqual(call.params.slice(1), ['a <&> ☺ <raw>', null, true, -1500, Buffer.from('hi')]);
  for (const [xml, re] of [
    ['<methodCall><methodName>m</methodName><params><param><value><int>2147483648</int></value></param></params></methodCall>', /params\[0\]: integer 2147483648 does not fit <int>/],
    ['<methodCall><methodName>m</methodName><params><param><value><struct><member><name>a</name><value>1</value></member><member><name>a</name><value>2</value></member></struct></value></param></params></methodCall>', /params\[0\]\.a: is given twice/],
    ['<methodCall><methodName>m</methodName></methodCall><x/>', /content after the document element/],
    ['<methodCall><methodName>m</methodName><params><param><value><blob/></value></param></params></methodCall>', /unknown XML-RPC type <blob>/],
    ['<?pi x?><methodCall/>', /processing instructions are not allowed/],
    ['a & b', /expected an element/],
    [`${'<a>'.repeat(100)}`, /nested deeper than 64/],
  ] as const) {
    t.throws(() => parseMethodCall(xml), { message: re }, xml.slice(0, 60));
  }
  const out = serializeResponse({ big: 2 ** 40, small: -5, none: null, skip: undefined, when: new Date(0), s: 'x<\u0001' });
  t.regex(out, /<name>big<\/name><value><i8>1099511627776<\/i8><\/value>/);
  t.regex(out, /<value><int>-5<\/int><\/value>/);
  t.regex(out, /<name>none<\/name><value><nil\/><\/value>/);
  t.notRegex(out, /skip/);
  t.regex(out, /1970-01-01T00:00:00.000Z/);
  t.regex(out, /x&lt;\uFFFD/);
});
