/**
 * composer's request vocabulary → Kiln's blueprint and build options (src/compose/customizations.ts):
 * every rename composer's GetBlueprintFromCustomizations / ConvertRequestBP makes, each of Kiln's
 * decisions where composer drops or mangles a field, error fields renamed back to the request's,
 * passwords crypted once; then the API: bad input is a 400 naming the request field with nothing
 * enqueued, and good input stores no clear password and hands the jobs what was converted.
 */
import test from 'ava';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/api/app.js';
import { silentLogger } from '../src/log.js';
import { InvalidInputError, KilnError } from '../src/errors.js';
import { sha512Crypt } from '../src/blueprint/index.js';
import {
  API_BASE,
  blueprintFromCustomizations,
  checkCustomizationSources,
  fromCustomizations,
  fromRequest,
  requestField,
  withCryptedRequestPasswords,
} from '../src/compose/index.js';
import { checkBuildOptions, packageRequests, resolveImage } from '../src/osbuild/index.js';
import type { Customizations } from '../src/generated/customizations.schema.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { testCertificate } from './helpers/composer-shapes.js';

const refused = (t: any, fn: () => unknown, field: string, reason?: RegExp): InvalidInputError => {
  const err = t.throws(fn, { instanceOf: InvalidInputError }) as InvalidInputError;
  t.is(err.field, field, err.message);
  t.true(err.message.startsWith(`${field}: `), err.message);
  if (reason) t.regex(err.message, reason);
  return err;
};

test('customizations: composer\'s renames (users, groups, custom_repositories, filesystem, fips, containers, packages)', (t) => {
  const bp = blueprintFromCustomizations({
    packages: ['tmux', 'vim-enhanced'],
    enabled_modules: [{ name: 'nodejs', stream: '22' }],
    containers: [{ source: 'registry.example.com/a:1', name: 'a', tls_verify: false }, { source: 'registry.example.com/b:1' }],
    users: [{ name: 'alice', groups: ['wheel'], key: 'ssh-ed25519 AAAA alice', password: '$6$salt$hash' }],
    groups: [{ name: 'devs', gid: 2001 }],
    custom_repositories: [
      { id: 'r', name: 'R', filename: 'r.repo', baseurl: ['https://r/1/', 'https://r/2/'], mirrorlist: 'https://r/m', metalink: 'https://r/l', enabled: true, gpgkey: ['https://r/key'], check_gpg: true, check_repo_gpg: false, ssl_verify: false, priority: 5, module_hotfixes: true },
    ],
    filesystem: [{ mountpoint: '/var', min_size: 2147483648 }],
    fips: { enabled: true },
  });
  t.deepEqual(bp, {
    packages: [{ name: 'tmux' }, { name: 'vim-enhanced' }],
    enabled_modules: [{ name: 'nodejs', stream: '22' }],
    containers: [{ source: 'registry.example.com/a:1', name: 'a', 'tls-verify': false }, { source: 'registry.example.com/b:1' }],
    customizations: {
      user: [{ name: 'alice', groups: ['wheel'], key: 'ssh-ed25519 AAAA alice', password: '$6$salt$hash' }],
      group: [{ name: 'devs', gid: 2001 }],
      filesystem: [{ mountpoint: '/var', minsize: 2147483648 }],
      repositories: [
        { id: 'r', baseurls: ['https://r/1/', 'https://r/2/'], gpgkeys: ['https://r/key'], metalink: 'https://r/l', mirrorlist: 'https://r/m', name: 'R', priority: 5, enabled: true, gpgcheck: true, repo_gpgcheck: false, sslverify: false, module_hotfixes: true, filename: 'r.repo' },
      ],
      fips: true,
    },
  });
  // custom repositories are written to the image only, as composer does: never a source for the build
  t.false('install_from' in bp.customizations!.repositories![0]);
  t.deepEqual(blueprintFromCustomizations({ fips: { enabled: false } }), {}, 'fips off is no customization');
  t.deepEqual(blueprintFromCustomizations({}), {});
});

test('customizations: fields of the same name are taken as they are, in osbuild/blueprint\'s order', (t) => {
  const same: Customizations = {
    cacerts: { pem_certs: ['PEM'] },
    rhsm: { config: { dnf_plugins: { product_id: { enabled: false } }, subscription_manager: { rhsm: { manage_repos: true }, rhsmcertd: { auto_registration: true } } } },
    rpm: { import_keys: { files: ['/etc/pki/rpm-gpg/KEY'] } },
    installer: { unattended: true, 'sudo-nopasswd': ['alice'] },
    directories: [{ path: '/etc/d', mode: '0750', user: 'root', group: 0, ensure_parents: true }],
    ignition: { firstboot: { url: 'http://ign/' } },
    openscap: { profile_id: 'cis', policy_id: '00000000-0000-4000-8000-000000000000', tailoring: { selected: ['a'], unselected: ['b'] } },
    fdo: { manufacturing_server_url: 'http://fdo', diun_pub_key_hash: 'sha256:x', di_mfg_string_type_mac_iface: 'eth0' },
    installation_device: '/dev/vda',
    disk: { type: 'gpt', minsize: '20 GiB', partitions: [{ type: 'plain', minsize: '2 GiB', mountpoint: '/data', fs_type: 'xfs', label: 'data', part_type: 'x' }, { type: 'lvm', name: 'vg', minsize: '4 GiB', logical_volumes: [{ name: 'lv', minsize: '2 GiB', mountpoint: '/srv', fs_type: 'ext4' }] }] },
    services: { enabled: ['a'], disabled: ['b'], masked: ['c'] },
    firewall: { ports: ['22:tcp'], services: { enabled: ['ssh'], disabled: ['telnet'] } },
    locale: { languages: ['cs_CZ.UTF-8'], keyboard: 'cz' },
    timezone: { timezone: 'Europe/Prague', ntpservers: ['ntp.example'] },
    kernel: { name: 'kernel-debug', append: 'nosmt=force' },
    hostname: 'h',
  };
  const bp = blueprintFromCustomizations(same);
  const { customizations } = bp;
  for (const [key, value] of Object.entries(same)) t.deepEqual((customizations as Record<string, unknown>)[key], value, key);
  t.deepEqual(Object.keys(customizations!), [
    'hostname', 'kernel', 'timezone', 'locale', 'firewall', 'services', 'disk', 'installation_device', 'fdo', 'openscap', 'ignition', 'directories', 'installer', 'rpm', 'rhsm', 'cacerts',
  ]);
  // a copy: converting does not hand the request's objects to the blueprint
  customizations!.kernel!.append = 'changed';
  t.is(same.kernel!.append, 'nosmt=force');
});

test('customizations: files[].ensure_parents adds the file\'s directory (composer drops the field)', (t) => {
  const bp = blueprintFromCustomizations({
    directories: [{ path: '/etc/listed', mode: '0700' }],
    files: [
      { path: '/etc/app/a.conf', data: 'a', ensure_parents: true },
      { path: '/etc/app/b.conf', data: 'b', ensure_parents: true },
      { path: '/etc/listed/c', ensure_parents: true },
      { path: '/top', ensure_parents: true },
      { path: '/etc/other/d', ensure_parents: false },
    ],
  });
  t.deepEqual(bp.customizations!.directories, [{ path: '/etc/listed', mode: '0700' }, { path: '/etc/app', ensure_parents: true }]);
  t.deepEqual(bp.customizations!.files, [{ path: '/etc/app/a.conf', data: 'a' }, { path: '/etc/app/b.conf', data: 'b' }, { path: '/etc/listed/c' }, { path: '/top' }, { path: '/etc/other/d' }]);
  // a listed file is never made a directory: the checks then say it is the parent of another node
  const parentFile = { files: [{ path: '/etc/x', data: '' }, { path: '/etc/x/y', ensure_parents: true }] };
  t.false((blueprintFromCustomizations(parentFile).customizations!.directories ?? []).some((d) => d.path === '/etc/x'));
  refused(t, () => fromCustomizations(parentFile), 'customizations.files[0].path', /is a file, but \/etc\/x\/y/);
});

test('customizations: subscription, partitioning_mode and payload_repositories are not blueprint fields', (t) => {
  const subscription = { organization: '1', activation_key: 'k', server_url: 'subscription.rhsm.redhat.com', base_url: 'https://cdn.redhat.com/', insights: true, rhc: true, insights_client_proxy: 'http://proxy:3128', template_uuid: 'u', template_name: 'n' };
  const build = fromCustomizations({
    subscription,
    partitioning_mode: 'raw',
    payload_repositories: [{ baseurl: 'https://payload/', gpgkey: 'KEY', check_gpg: true, check_repo_gpg: true, ignore_ssl: true, module_hotfixes: true, rhsm: false }],
    packages: ['extra'],
  });
  t.deepEqual(build.blueprint, { packages: [{ name: 'extra' }] });
  t.deepEqual(build.options, { partitioningMode: 'raw', subscription });
  t.deepEqual(build.payloadRepositories, [{ baseurl: 'https://payload/', gpgkey: 'KEY', check_gpg: true, check_repo_gpg: true, ignore_ssl: true, module_hotfixes: true, rhsm: false, package_sets: ['blueprint'] }]);
  t.is(build.source, 'customizations');
  t.deepEqual(fromCustomizations(undefined), { blueprint: {}, options: {}, payloadRepositories: [] });
});

test('payload repositories: what the build cannot use is refused naming the request field', (t) => {
  const payload = (repo: object) => () => fromCustomizations({ payload_repositories: [{ baseurl: 'https://ok/' }, repo as never] });
  refused(t, payload({ baseurl: 'https://x/', rhsm: true }), 'customizations.payload_repositories[1].rhsm', /RHSM repositories are not supported/);
  refused(t, payload({ baseurl: 'https://x/', check_gpg: true }), 'customizations.payload_repositories[1].gpgkey', /check_gpg is set/);
  refused(t, payload({ baseurl: '' }), 'customizations.payload_repositories[1]', /one of baseurl, metalink or mirrorlist/);
  refused(t, payload({ baseurl: 'https://x/', package_sets: ['os'] }), 'customizations.payload_repositories[1].package_sets', /does not apply: payload repositories serve the packages of customizations\.packages only/);
});

test('request blueprint: taken as image-builder\'s, tls_verify as tls-verify, partitioning_mode honoured as a build option', (t) => {
  const build = fromRequest({
    blueprint: {
      name: 'bp',
      version: '1.0.0',
      distro: 'rhel-9.6',
      packages: [{ name: 'tmux', version: '3.3a' }],
      containers: [{ source: 'registry.example.com/a:1', tls_verify: true }],
      customizations: { partitioning_mode: 'lvm', filesystem: [{ mountpoint: '/var', minsize: '2 GiB' }], files: [{ path: '/etc/f', group: 0 }] },
    },
  });
  t.is(build.source, 'blueprint');
  t.deepEqual(build.options, { partitioningMode: 'lvm' });
  t.deepEqual(build.blueprint.containers, [{ source: 'registry.example.com/a:1', 'tls-verify': true }]);
  // kept for the type's supported options; a group of 0 is root (composer drops it)
  t.is(build.blueprint.customizations!.partitioning_mode, 'lvm');
  t.deepEqual(build.blueprint.customizations!.files, [{ path: '/etc/f', group: 0 }]);
  refused(t, () => fromRequest({ blueprint: { name: 'bp', containers: [{ source: 's', tls_verify: true, 'tls-verify': false }] } }), 'blueprint.containers[0].tls_verify', /contradicts tls-verify/);
  t.deepEqual(fromRequest({ blueprint: { name: 'bp', customizations: { partitioning_mode: '' } } }).options, {}, 'an empty mode is no mode');
  t.deepEqual(fromRequest({}), { blueprint: {}, options: {}, payloadRepositories: [] });
});

test('passwords: crypted once in the request; the blueprint keeps that hash; crypted ones are kept', (t) => {
  const request = {
    customizations: { users: [{ name: 'a', password: 'secret' }, { name: 'b', password: '$6$abc$kept' }, { name: 'c' }] },
  };
  const crypted = withCryptedRequestPasswords(request);
  const [a, b, c] = crypted.customizations!.users!;
  t.regex(a.password!, /^\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$/);
  t.is(sha512Crypt('secret', a.password!.split('$')[2]!), a.password!);
  t.is(b.password, '$6$abc$kept');
  t.false('password' in c);
  t.is(request.customizations.users[0].password, 'secret', 'the original is not changed');
  t.is(fromRequest(crypted).blueprint.customizations!.user![0].password, a.password);
  const bp = withCryptedRequestPasswords({ blueprint: { name: 'x', customizations: { user: [{ name: 'd', password: 'pw' }], hostname: 'h' } } });
  t.regex(bp.blueprint!.customizations!.user![0].password!, /^\$6\$/);
  t.is(bp.blueprint!.customizations!.hostname, 'h');
  t.is(fromRequest(bp).blueprint.customizations!.user![0].password, bp.blueprint!.customizations!.user![0].password);
  const none = { customizations: { hostname: 'h' } };
  t.is(withCryptedRequestPasswords(none).customizations, none.customizations);
  // a converter handed a clear password (jobs queued before) still crypts it
  t.regex(fromCustomizations({ users: [{ name: 'e', password: 'pw' }] }).blueprint.customizations!.user![0].password!, /^\$6\$/);
});

test('requestField: every blueprint path composer spells differently, build options, the (nor …) list', (t) => {
  const renames: [string, string][] = [
    ['blueprint.packages[2].name', 'customizations.packages[2]'],
    ['blueprint.packages', 'customizations.packages'],
    ['blueprint.enabled_modules[0].stream', 'customizations.enabled_modules[0].stream'],
    ['blueprint.containers[1].tls-verify', 'customizations.containers[1].tls_verify'],
    ['blueprint.containers[1].source', 'customizations.containers[1].source'],
    ['blueprint.containers', 'customizations.containers'],
    ['blueprint.customizations.user[0].name', 'customizations.users[0].name'],
    ['blueprint.customizations.user', 'customizations.users'],
    ['blueprint.customizations.group[3].gid', 'customizations.groups[3].gid'],
    ['blueprint.customizations.repositories[0].baseurls[1]', 'customizations.custom_repositories[0].baseurl[1]'],
    ['blueprint.customizations.repositories[0].gpgkeys[0]', 'customizations.custom_repositories[0].gpgkey[0]'],
    ['blueprint.customizations.repositories[0].gpgcheck', 'customizations.custom_repositories[0].check_gpg'],
    ['blueprint.customizations.repositories[0].repo_gpgcheck', 'customizations.custom_repositories[0].check_repo_gpg'],
    ['blueprint.customizations.repositories[0].sslverify', 'customizations.custom_repositories[0].ssl_verify'],
    ['blueprint.customizations.repositories[0].id', 'customizations.custom_repositories[0].id'],
    ['blueprint.customizations.repositories[0]', 'customizations.custom_repositories[0]'],
    ['blueprint.customizations.filesystem[1].minsize', 'customizations.filesystem[1].min_size'],
    ['blueprint.customizations.filesystem[1].mountpoint', 'customizations.filesystem[1].mountpoint'],
    ['blueprint.customizations.fips', 'customizations.fips'],
    ['blueprint.customizations.disk.partitions[0].minsize', 'customizations.disk.partitions[0].minsize'],
    ['blueprint.customizations', 'customizations'],
    ['blueprint', 'customizations'],
    ['options.partitioningMode', 'customizations.partitioning_mode'],
  ];
  for (const [from, to] of renames) {
    const err = requestField(new InvalidInputError(from, 'says why', { details: { extra: 1 } }), 'customizations') as InvalidInputError;
    t.is(err.field, to, from);
    t.is(err.message, `${to}: says why`);
    t.deepEqual(err.details, { field: to, extra: 1 });
  }
  const nor = requestField(new InvalidInputError('blueprint.customizations.user', 'is not supported by image type x (nor customizations.group, containers, customizations.kernel.name)'), 'customizations') as InvalidInputError;
  t.is(nor.message, 'customizations.users: is not supported by image type x (nor customizations.groups, customizations.containers, customizations.kernel.name)');
  // the request's blueprint is named as it is; only build options map into it, and the (nor …) list gets its prefix
  const same = new InvalidInputError('blueprint.customizations.user[0].name', 'bad');
  t.is(requestField(same, 'blueprint'), same);
  const bpNor = requestField(new InvalidInputError('blueprint.customizations.fdo.x', 'is not supported by image type x (nor customizations.fdo.y, containers)'), 'blueprint') as InvalidInputError;
  t.is(bpNor.field, 'blueprint.customizations.fdo.x');
  t.is(bpNor.message, 'blueprint.customizations.fdo.x: is not supported by image type x (nor blueprint.customizations.fdo.y, blueprint.containers)');
  t.is((requestField(new InvalidInputError('options.partitioningMode', 'bad'), 'blueprint') as InvalidInputError).field, 'blueprint.customizations.partitioning_mode');
  const other = new KilnError('KILN_INTERNAL', 'x');
  t.is(requestField(other, 'customizations'), other);
  const request = new InvalidInputError('customizations.payload_repositories[0]', 'x');
  t.is(requestField(request, 'customizations'), request);
  // the subscription's checks name the request's field themselves
  const sub = new InvalidInputError('customizations.subscription.template_uuid', 'x');
  t.is(requestField(sub, 'customizations'), sub);
  // a request without customizations: the error is its own
  t.is(requestField(same, undefined), same);
});

test('customizations: the blueprint\'s rules, errors naming the request\'s fields', async (t) => {
  const cert = await testCertificate();
  const cases: [Customizations, string, RegExp][] = [
    [{ users: [{ name: 'alice', groups: ['bad group'] }] }, 'customizations.users[0].groups[0]', /not a valid group name/],
    [{ groups: [{ name: 'a', gid: 5 }, { name: 'b', gid: 5 }] }, 'customizations.groups[1].gid', /duplicate group ID: 5/],
    [{ custom_repositories: [{ id: 'r' }] }, 'customizations.custom_repositories[0]', /base URL, mirrorlist or metalink is required/],
    [{ custom_repositories: [{ id: 'bad id', baseurl: ['https://r/'] }] }, 'customizations.custom_repositories[0].id', /letters, digits/],
    [{ custom_repositories: [{ id: 'r', baseurl: ['https://r/'], check_gpg: true }] }, 'customizations.custom_repositories[0].gpgkey', /keys are required/],
    [{ custom_repositories: [{ id: 'r', baseurl: ['https://r/'], gpgkey: ['not a key'] }] }, 'customizations.custom_repositories[0].gpgkey[0]', /neither an ASCII-armored key nor a URL/],
    [{ filesystem: [{ mountpoint: '/var', min_size: 1 }], disk: { partitions: [] } }, 'customizations.disk', /cannot be used with customizations\.filesystem/],
    [{ disk: { partitions: [{ type: 'plain', mountpoint: '/data' }] } }, 'customizations.disk.partitions[0].minsize', /is required/],
    [{ directories: [{ path: 'relative' }] }, 'customizations.directories[0].path', /must be absolute/],
    [{ directories: [{ path: '/etc/d', mode: '1777' }] }, 'customizations.directories[0].mode', /octal mode/],
    [{ files: [{ path: '/etc/f', user: 'bad user' }] }, 'customizations.files[0].user', /not a valid name/],
    [{ openscap: { profile_id: 'cis', tailoring: {}, json_tailoring: { profile_id: 'p', filepath: '/f' } } }, 'customizations.openscap', /choose one of tailoring and json_tailoring/],
    [{ fdo: { diun_pub_key_hash: 'h' } }, 'customizations.fdo.manufacturing_server_url', /required when using fdo/],
    [{ fdo: { manufacturing_server_url: 'u', diun_pub_key_hash: 'h', diun_pub_key_insecure: 'true' } }, 'customizations.fdo', /exactly one of/],
    [{ ignition: { embedded: { config: 'e30=' }, firstboot: { url: 'http://x' } } }, 'customizations.ignition.embedded', /cannot be used with customizations\.ignition\.firstboot/],
    [{ ignition: { embedded: { config: 'not base64!' } } }, 'customizations.ignition.embedded.config', /base64/],
    [{ cacerts: { pem_certs: ['garbage'] } }, 'customizations.cacerts.pem_certs[0]', /no PEM certificate/],
    [{ firewall: { ports: ['22'] } }, 'customizations.firewall.ports[0]', /port:protocol/],
    [{ kernel: { append: 'a\nb' } }, 'customizations.kernel.append', /one line/],
  ];
  for (const [c, field, reason] of cases) refused(t, () => fromCustomizations(c), field, reason);
  t.truthy(fromCustomizations({ cacerts: { pem_certs: [cert] } }).blueprint.customizations!.cacerts);
});

test('build options against the image type: partitioning modes need a disk; subscription is checked with the manifest', (t) => {
  const qcow2 = resolveImage('rhel-9.6', 'x86_64', 'qcow2');
  const wsl = resolveImage('rhel-9.6', 'x86_64', 'wsl');
  const subscription = { organization: '1', activation_key: 'k', server_url: 's', base_url: 'b', insights: false };
  t.notThrows(() => checkBuildOptions(qcow2, { subscription }));
  // main's subscription rules, with the request's field names
  const sub = fromCustomizations({ subscription: { ...subscription, template_uuid: 'u' } });
  const bad = t.throws(() => packageRequests({ image: qcow2, ...sub, seed: 1 }), { instanceOf: InvalidInputError })!;
  t.is((requestField(bad, sub.source) as InvalidInputError).field, 'customizations.subscription.template_uuid');
  t.notThrows(() => packageRequests({ image: wsl, ...fromCustomizations({ subscription }), seed: 1 }));
  refused(t, () => checkBuildOptions(wsl, { partitioningMode: 'raw' }), 'options.partitioningMode', /raw has no effect: image type wsl has no partition table \(it is a tar image\)/);
  t.notThrows(() => checkBuildOptions(wsl, { partitioningMode: 'auto-lvm' }));
  t.notThrows(() => checkBuildOptions(qcow2, { partitioningMode: 'lvm' }));
  t.notThrows(() => checkBuildOptions(qcow2));
  // the manifest code checks them: an image build with them is refused the same way
  const build = fromCustomizations({ partitioning_mode: 'lvm' });
  const err = t.throws(() => packageRequests({ image: wsl, ...build, seed: 1 }), { instanceOf: InvalidInputError })!;
  t.is((requestField(err, build.source) as InvalidInputError).field, 'customizations.partitioning_mode');
});

test('checkCustomizationSources: customizations and blueprint together are refused naming blueprint', (t) => {
  refused(t, () => checkCustomizationSources({ customizations: {}, blueprint: { name: 'x' } }), 'blueprint', /give either customizations or blueprint, not both/);
  t.notThrows(() => checkCustomizationSources({ customizations: {} }));
  t.notThrows(() => checkCustomizationSources(null));
  t.notThrows(() => checkCustomizationSources('text'));
});

// --------------------------------------------------------------------------------------------
// through the API: what is stored and queued, and what is refused

const HUB = 'https://koji.example.test/kojihub';
let db: TestDatabase;
let app: FastifyInstance;

test.before(async () => {
  db = await createTestDatabase();
  app = await buildApp({ pool: db.pool, log: silentLogger, kojiServers: [HUB] });
});
test.after.always(async () => {
  await app?.close();
  await db?.drop();
});

const REPO = 'https://repos.example.test/el9/x86_64/';

function body(extra: Record<string, unknown> = {}, imageType = 'guest-image'): Record<string, any> {
  return {
    distribution: 'rhel-9.6',
    koji: { server: HUB, task_id: 1, name: 'RHEL', version: '9.6', release: '1' },
    image_requests: [{ architecture: 'x86_64', image_type: imageType, repositories: [{ baseurl: REPO }] }],
    ...extra,
  };
}

const jobCount = async () => (await db.pool.query('SELECT count(*)::int AS n FROM kiln_jobs')).rows[0].n as number;

test.serial('a request with customizations: no clear password is stored; the jobs get the blueprint, options and payload repositories', async (t) => {
  const res = await app.inject({
    method: 'POST',
    url: `${API_BASE}/compose`,
    payload: body({
      customizations: {
        users: [{ name: 'alice', password: 'hunter2', groups: ['wheel'] }],
        packages: ['tmux'],
        payload_repositories: [{ baseurl: 'https://payload.example.test/' }],
        partitioning_mode: 'lvm',
        custom_repositories: [{ id: 'extra', baseurl: [REPO], check_gpg: false }],
      },
    }),
  });
  t.is(res.statusCode, 201, res.body);
  const { id } = res.json();
  const stored = (await db.pool.query('SELECT request FROM kiln_composes WHERE id = $1', [id])).rows[0].request;
  const hash = stored.customizations.users[0].password as string;
  t.regex(hash, /^\$6\$/);
  t.is(sha512Crypt('hunter2', hash.split('$')[2]), hash);
  const { rows } = await db.pool.query(`SELECT type, args FROM kiln_jobs WHERE compose_id = $1 AND type IN ('depsolve', 'osbuild') ORDER BY seq`, [id]);
  t.is(rows.length, 2);
  t.false(JSON.stringify(rows).includes('hunter2'));
  t.false(JSON.stringify(stored).includes('hunter2'));
  for (const { args } of rows) {
    t.is(args.blueprint.customizations.user[0].password, hash, 'one hash for the request and the build');
    t.deepEqual(args.blueprint.customizations.repositories, [{ id: 'extra', baseurls: [REPO], gpgcheck: false }]);
    t.deepEqual(args.options, { partitioningMode: 'lvm' });
  }
  t.deepEqual(rows[0].args.repositories, [{ baseurl: REPO }, { baseurl: 'https://payload.example.test/', package_sets: ['blueprint'] }]);
});

test.serial('subscription and containers: main\'s subscription build option and the blueprint containers the depsolve job resolves', async (t) => {
  const subscription = { organization: '42', activation_key: 'ak-secret', server_url: 'subscription.rhsm.redhat.com', base_url: 'https://cdn.redhat.com/', insights: true, rhc: true, template_name: 'el9' };
  const res = await app.inject({
    method: 'POST',
    url: `${API_BASE}/compose`,
    payload: body({ customizations: { subscription, containers: [{ source: 'registry.example.test/app:1', name: 'app', tls_verify: false }] } }),
  });
  t.is(res.statusCode, 201, res.body);
  const { rows } = await db.pool.query(`SELECT type, args FROM kiln_jobs WHERE compose_id = $1 AND type IN ('depsolve', 'osbuild') ORDER BY seq`, [res.json().id]);
  for (const { args } of rows) {
    t.deepEqual(args.options, { subscription });
    t.deepEqual(args.blueprint.containers, [{ source: 'registry.example.test/app:1', name: 'app', 'tls-verify': false }]);
    t.is(args.blueprint.customizations, undefined, 'neither is a blueprint customization');
  }
});

test.serial('a request blueprint: stored crypted, converted for the jobs', async (t) => {
  const res = await app.inject({
    method: 'POST',
    url: `${API_BASE}/compose`,
    payload: body({ blueprint: { name: 'web', distro: 'rhel-9.6', customizations: { user: [{ name: 'bob', password: 'pw', uid: 1500 }], sshd: { password_authentication: false } } } }),
  });
  t.is(res.statusCode, 201, res.body);
  const { id } = res.json();
  const stored = (await db.pool.query('SELECT request FROM kiln_composes WHERE id = $1', [id])).rows[0].request;
  const hash = stored.blueprint.customizations.user[0].password;
  t.regex(hash, /^\$6\$/);
  const { rows } = await db.pool.query(`SELECT args FROM kiln_jobs WHERE compose_id = $1 AND type = 'osbuild'`, [id]);
  t.deepEqual(rows[0].args.blueprint.customizations.user, [{ name: 'bob', password: hash, uid: 1500 }]);
  t.deepEqual(rows[0].args.blueprint.customizations.sshd, { password_authentication: false });
});

const invalid: [string, Record<string, unknown>, string, RegExp, string?][] = [
  ['customizations and blueprint together', { customizations: { hostname: 'a' }, blueprint: { name: 'b' } }, 'blueprint', /give either customizations or blueprint, not both/],
  ['a blueprint for another distro', { blueprint: { name: 'b', distro: 'rhel-9.5' } }, 'blueprint.distro', /is "rhel-9\.5", but the request's distribution is "rhel-9\.6"/],
  ['a blueprint field image-builder does not know', { blueprint: { name: 'b', customizations: { colour: 'blue' } } }, 'blueprint.customizations.colour', /not an allowed field/],
  ['a customization the type cannot carry', { customizations: { filesystem: [{ mountpoint: '/var', min_size: 1073741824 }] } }, 'customizations.filesystem', /is not supported by image type wsl/, 'wsl'],
  ['a blueprint customization the type cannot carry', { blueprint: { name: 'b', customizations: { kernel: { append: 'quiet' } } } }, 'blueprint.customizations.kernel.append', /is not supported by image type wsl/, 'wsl'],
  ['a customization only the simplified installers carry', { customizations: { installation_device: '/dev/sda' } }, 'customizations.installation_device', /is not supported by image type qcow2/],
  ['a partitioning mode for a type without a disk', { customizations: { partitioning_mode: 'raw' } }, 'customizations.partitioning_mode', /raw has no effect: image type wsl has no partition table/, 'wsl'],
  ['a subscription to a content template by UUID', { customizations: { subscription: { organization: '1', activation_key: 'k', server_url: 's', base_url: 'b', insights: true, template_uuid: 'u' } } }, 'customizations.subscription.template_uuid', /is not supported: registering to a content template by UUID/],
  ['a subscription without a required field', { customizations: { subscription: { organization: '1', activation_key: 'k', server_url: 's', insights: true } } }, 'customizations.subscription.base_url', /is required/],
  ['an RHSM payload repository', { customizations: { payload_repositories: [{ baseurl: REPO, rhsm: true }] } }, 'customizations.payload_repositories[0].rhsm', /RHSM repositories are not supported/],
  ['an image repository with check_gpg and no key', {}, 'image_requests[0].repositories[0].gpgkey', /check_gpg is set/],
  ['an empty services list (minItems 1, as composer)', { customizations: { services: { enabled: [] } } }, 'customizations.services.enabled', /must NOT have fewer than 1 items/],
  ['both tailorings', { customizations: { openscap: { profile_id: 'cis', tailoring: { selected: ['a'] }, json_tailoring: { profile_id: 'p', filepath: '/f' } } } }, 'customizations.openscap', /choose one of tailoring and json_tailoring/],
  ['a user name the users stage refuses', { customizations: { users: [{ name: 'no spaces' }] } }, 'customizations.users[0].name', /must match pattern/],
  ['a filesystem size that is not bytes', { customizations: { filesystem: [{ mountpoint: '/var', min_size: '2 GiB' }] } }, 'customizations.filesystem[0].min_size', /must be integer/],
  ['a bad policy id', { customizations: { openscap: { profile_id: 'cis', policy_id: 'nope' } } }, 'customizations.openscap.policy_id', /must match pattern/],
  ['upload_targets', {}, 'image_requests[0].upload_targets', /is not supported: Kiln imports the images into Koji and uploads a copy only to AWS S3, through upload_options/],
];

for (const [name, extra, field, reason, imageType] of invalid) {
  test.serial(`refused: ${name} → 400 naming ${field}, nothing enqueued`, async (t) => {
    const before = await jobCount();
    const b = body(extra, imageType);
    if (field === 'image_requests[0].repositories[0].gpgkey') b.image_requests[0].repositories[0].check_gpg = true;
    if (field === 'image_requests[0].upload_targets') b.image_requests[0].upload_targets = [{ type: 'aws.s3', upload_options: { region: 'us-east-1' } }];
    const res = await app.inject({ method: 'POST', url: `${API_BASE}/compose`, payload: b });
    t.is(res.statusCode, 400, res.body);
    const err = res.json();
    t.like(err, { kind: 'Error', code: 'KILN_INVALID_INPUT', details: { field } });
    t.true(err.reason.startsWith(`${field}: `), err.reason);
    t.regex(err.reason, reason);
    t.is(await jobCount(), before);
  });
}
