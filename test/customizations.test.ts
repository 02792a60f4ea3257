/**
 * Each blueprint customization: the stages (and packages) it produces, in osbuild/images'
 * order, in manifests that validate against osbuild's stage schemas; and what a type or
 * upstream refuses, refused naming the field.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InvalidInputError } from '../src/errors.js';
import { depsolveRequestsFor, generateManifest, packageRequests, payloadRepositories, resolveImage, unsupportedPaths, type Manifest, type ManifestStage } from '../src/osbuild/index.js';
import { parseBlueprint, sha512Crypt, type Blueprint } from '../src/blueprint/index.js';
import { validateManifest } from './osbuild-standin/validate.js';
import { syntheticDepsolve } from './osbuild-standin/synthetic.js';

function build(distro: string, arch: string, type: string, blueprint: Blueprint, seed = '11'): Manifest {
  const image = resolveImage(distro, arch, type);
  const input = { image, seed, blueprint };
  const m = generateManifest({ ...input, packages: syntheticDepsolve(packageRequests(input), arch) });
  const res = validateManifest(m);
  if (!res.skipped && !res.success) throw new Error(`${distro} ${type}: invalid manifest: ${JSON.stringify(res.errors.slice(0, 3))}`);
  return m;
}

const osStages = (m: Manifest): ManifestStage[] => m.pipelines.find((p) => p.name === 'os')!.stages;
const types = (m: Manifest) => osStages(m).map((s) => s.type);
const all = (m: Manifest, type: string) => osStages(m).filter((s) => s.type === type);
const opts = (m: Manifest, type: string) => all(m, type)[0]?.options as Record<string, any>;
const index = (m: Manifest, type: string) => types(m).indexOf(type);
const plan = (distro: string, type: string, blueprint: Blueprint) => packageRequests({ image: resolveImage(distro, 'x86_64', type), seed: '1', blueprint });
const refused = (fn: () => unknown): InvalidInputError => {
  try {
    fn();
  } catch (err) {
    if (err instanceof InvalidInputError) return err;
    throw err;
  }
  throw new Error('not refused');
};

/** Copies named in a copy stage's paths (the tree paths written). */
const copied = (m: Manifest) => all(m, 'org.osbuild.copy').flatMap((s) => (s.options!.paths as { to: string }[]).map((p) => p.to.replace(/^tree:\/\//, '')));
/** The inline source content of the file copied to `to`. */
function inlineContent(m: Manifest, to: string): string {
  for (const s of all(m, 'org.osbuild.copy')) {
    const p = (s.options!.paths as { from: string; to: string }[]).find((x) => x.to === `tree://${to}`);
    if (!p) continue;
    const id = p.from.split('/').pop()!;
    const items = (m.sources['org.osbuild.inline'] as { items: Record<string, { data: string }> }).items;
    return Buffer.from(items[id].data, 'base64').toString('utf8');
  }
  throw new Error(`no copy to ${to}`);
}

test('hostname, locale, keyboard, timezone and NTP servers: the blueprint wins over the image config', (t) => {
  const base = build('rhel-9.6', 'x86_64', 'gce', {});
  t.deepEqual(opts(base, 'org.osbuild.chrony'), { servers: [{ hostname: 'metadata.google.internal' }] });
  t.deepEqual(opts(base, 'org.osbuild.keymap'), { keymap: 'us' });
  const m = build('rhel-9.6', 'x86_64', 'gce', {
    customizations: {
      hostname: 'node1.example.com',
      locale: { languages: ['cs_CZ.UTF-8', 'en_US.UTF-8'], keyboard: 'cz' },
      timezone: { timezone: 'Europe/Prague', ntpservers: ['0.pool.ntp.org', 'ntp.example.com'] },
    },
  });
  t.deepEqual(opts(m, 'org.osbuild.hostname'), { hostname: 'node1.example.com' });
  // only the first language is used, as upstream
  t.deepEqual(opts(m, 'org.osbuild.locale'), { language: 'cs_CZ.UTF-8' });
  t.deepEqual(opts(m, 'org.osbuild.keymap'), { keymap: 'cz' });
  t.deepEqual(opts(m, 'org.osbuild.timezone'), { zone: 'Europe/Prague' });
  // NTP servers replace the image config's time synchronisation entirely
  t.deepEqual(opts(m, 'org.osbuild.chrony'), { servers: [{ hostname: '0.pool.ntp.org' }, { hostname: 'ntp.example.com' }] });
  t.true(index(m, 'org.osbuild.locale') < index(m, 'org.osbuild.hostname'));
  t.true(index(m, 'org.osbuild.hostname') < index(m, 'org.osbuild.chrony'));
  // chrony must be in the image: the configuration's transaction asks for it
  t.true(plan('fedora-43', 'qcow2', { customizations: { timezone: { ntpservers: ['ntp.example.com'] } } }).os[1].include.includes('chrony'));
});

test('users, SSH keys and groups: every user field, keys as users, later entries replace, passwords crypted reproducibly', (t) => {
  const bp: Blueprint = {
    customizations: {
      sshkey: [{ user: 'root', key: 'ssh-ed25519 AAAAroot root@example' }, { user: 'ops', key: 'ssh-ed25519 AAAAold' }],
      user: [
        {
          name: 'ops',
          description: 'Operations',
          password: 'correct horse',
          key: 'ssh-ed25519 AAAAops ops@example',
          home: '/srv/ops/',
          shell: '/bin/zsh',
          groups: ['wheel', 'ops'],
          uid: 1200,
          gid: 1200,
          expiredate: 20000,
          force_password_reset: true,
        },
        { name: 'hashed', password: '$6$abc$def' },
      ],
      group: [{ name: 'ops', gid: 1200 }, { name: 'audit' }],
    },
  };
  const m = build('fedora-43', 'x86_64', 'qcow2', bp);
  t.deepEqual(opts(m, 'org.osbuild.groups'), { groups: { ops: { gid: 1200 }, audit: {} }, force: true });
  const users = opts(m, 'org.osbuild.users').users;
  t.deepEqual(Object.keys(users), ['hashed', 'ops', 'root']);
  t.deepEqual(users.root, { key: 'ssh-ed25519 AAAAroot root@example' });
  const { password, ...ops } = users.ops;
  // the user entry replaces the sshkey entry of the same name; home loses its trailing slash
  t.deepEqual(ops, { description: 'Operations', key: 'ssh-ed25519 AAAAops ops@example', home: '/srv/ops', shell: '/bin/zsh', groups: ['wheel', 'ops'], uid: 1200, gid: 1200, expiredate: 20000, force_password_reset: true });
  t.regex(password, /^\$6\$[./0-9A-Za-z]{16}\$/);
  t.is(sha512Crypt('correct horse', password.split('$')[2]), password, 'a SHA-512 crypt of the password');
  t.is(users.hashed.password, '$6$abc$def', 'crypted passwords are kept');
  t.is(opts(build('fedora-43', 'x86_64', 'qcow2', bp), 'org.osbuild.users').users.ops.password, password, 'the same seed gives the same hash');
  t.not(opts(build('fedora-43', 'x86_64', 'qcow2', bp, '12'), 'org.osbuild.users').users.ops.password, password);
  t.true(index(m, 'org.osbuild.groups') < index(m, 'org.osbuild.users'));
  t.true(plan('fedora-43', 'container', { customizations: { group: [{ name: 'g' }] } }).os[1].include.includes('shadow-utils'));
  const dup = refused(() => build('fedora-43', 'x86_64', 'qcow2', { customizations: { group: [{ name: 'a', gid: 5 }, { name: 'b', gid: 5 }] } }));
  t.is(dup.field, 'blueprint.customizations.group[1].gid');
  t.is(refused(() => build('fedora-43', 'x86_64', 'qcow2', { customizations: { user: [{ name: '-x' }] } })).field, 'blueprint.customizations.user[0].name');
});

test('firewall: replaces the image config\'s, ports, services and zones; firewalld in the image', (t) => {
  t.deepEqual(opts(build('rhel-9.6', 'x86_64', 'gce', {}), 'org.osbuild.firewall'), { default_zone: 'trusted' });
  const m = build('rhel-9.6', 'x86_64', 'gce', {
    customizations: { firewall: { ports: ['22:tcp', '8000-8080:udp', 'imap:tcp'], services: { enabled: ['https'], disabled: ['cockpit'] }, zones: [{ name: 'internal', sources: ['10.0.0.0/8'] }] } },
  });
  t.deepEqual(opts(m, 'org.osbuild.firewall'), { ports: ['22:tcp', '8000-8080:udp', 'imap:tcp'], enabled_services: ['https'], disabled_services: ['cockpit'], zones: [{ name: 'internal', sources: ['10.0.0.0/8'] }] });
  t.true(index(m, 'org.osbuild.users') === -1 || index(m, 'org.osbuild.users') < index(m, 'org.osbuild.firewall'));
  t.true(plan('fedora-43', 'qcow2', { customizations: { firewall: { ports: ['22:tcp'] } } }).os[1].include.includes('firewalld'));
  t.is(refused(() => build('fedora-43', 'x86_64', 'qcow2', { customizations: { firewall: { ports: ['22'] } } })).field, 'blueprint.customizations.firewall.ports[0]');
  t.is(refused(() => build('fedora-43', 'x86_64', 'qcow2', { customizations: { firewall: { zones: [{ sources: ['x'] }] } } })).field, 'blueprint.customizations.firewall.zones[0].name');
});

test('services: enabled, disabled and masked join the image config\'s in the one systemd stage, after custom files', (t) => {
  const m = build('fedora-43', 'x86_64', 'qcow2', {
    customizations: { services: { enabled: ['cockpit.socket'], disabled: ['kdump.service'], masked: ['rpcbind.socket'] }, files: [{ path: '/etc/systemd/system/x.service', data: '[Unit]\n' }] },
  });
  const systemd = opts(m, 'org.osbuild.systemd');
  t.true(systemd.enabled_services.includes('cockpit.socket'));
  t.true(systemd.disabled_services.includes('kdump.service'));
  t.deepEqual(systemd.masked_services, ['rpcbind.socket']);
  t.true(index(m, 'org.osbuild.copy') < index(m, 'org.osbuild.systemd'));
});

test('kernel: the name goes into the base transaction, append to the command line after the image\'s options', (t) => {
  const bp: Blueprint = { customizations: { kernel: { name: 'kernel-debug', append: 'console=ttyS1 nosmt' } } };
  const requests = plan('fedora-43', 'qcow2', bp);
  t.true(requests.os[0].include.includes('kernel-debug'));
  t.false(requests.os[0].include.includes('kernel'));
  const m = build('fedora-43', 'x86_64', 'qcow2', bp);
  t.regex(opts(m, 'org.osbuild.kernel-cmdline').kernel_opts, / console=ttyS1 nosmt$/);
  t.regex(opts(m, 'org.osbuild.grub2').kernel_opts, / console=ttyS1 nosmt$/);
  // a type with its own kernel (UKI) does not take kernel customizations
  t.deepEqual(unsupportedPaths(bp, resolveImage('rhel-9.6', 'x86_64', 'ec2-cvm').supportedCustomizations ?? []), ['customizations.kernel.name', 'customizations.kernel.append']);
});

test('directories and files: mkdir, copy from inline sources, chmod, chown; policies as upstream', (t) => {
  const m = build('fedora-43', 'x86_64', 'qcow2', {
    customizations: {
      directories: [
        { path: '/etc/kiln', mode: '0750', user: 'root', group: 1000 },
        { path: '/var/lib/kiln/cache', ensure_parents: true },
      ],
      files: [
        { path: '/etc/kiln/kiln.conf', data: 'a = 1\n', mode: '640', user: 'root', group: 'wheel' },
        { path: '/usr/local/bin/hello', data: '#!/bin/sh\necho hi\n', mode: '0755' },
      ],
    },
  });
  t.deepEqual(opts(m, 'org.osbuild.mkdir').paths, [{ path: '/etc/kiln' }, { path: '/var/lib/kiln/cache', parents: true, exist_ok: true }]);
  t.deepEqual(copied(m).slice(0, 2), ['/etc/kiln/kiln.conf', '/usr/local/bin/hello']);
  t.is(inlineContent(m, '/usr/local/bin/hello'), '#!/bin/sh\necho hi\n');
  const chmods = all(m, 'org.osbuild.chmod').map((s) => s.options!.items);
  t.deepEqual(chmods, [{ '/etc/kiln': { mode: '0750' } }, { '/etc/kiln/kiln.conf': { mode: '0640' }, '/usr/local/bin/hello': { mode: '0755' } }]);
  t.deepEqual(all(m, 'org.osbuild.chown').map((s) => s.options!.items), [{ '/etc/kiln': { user: 'root', group: 1000 } }, { '/etc/kiln/kiln.conf': { user: 'root', group: 'wheel' } }]);
  t.true(index(m, 'org.osbuild.mkdir') < index(m, 'org.osbuild.copy'));
  for (const [bp, field] of [
    [{ customizations: { files: [{ path: '/etc/passwd', data: 'x' }] } }, 'blueprint.customizations.files'],
    [{ customizations: { directories: [{ path: '/usr/share/x' }] } }, 'blueprint.customizations.directories'],
    [{ customizations: { files: [{ path: '/etc/../etc/x', data: 'x' }] } }, 'blueprint.customizations.files[0].path'],
    [{ customizations: { files: [{ path: '/etc/x', data: 'x', mode: '4755' }] } }, 'blueprint.customizations.files[0].mode'],
    [{ customizations: { files: [{ path: '/etc/x', data: 'x' }, { path: '/etc/x/y', data: 'y' }] } }, 'blueprint.customizations.files[0].path'],
    [{ customizations: { files: [{ path: '/etc/x', uri: 'file:///etc/hosts' }] } }, 'blueprint.customizations.files[0].uri'],
  ] as [Blueprint, string][]) {
    t.is(refused(() => build('fedora-43', 'x86_64', 'qcow2', bp)).field, field, JSON.stringify(bp));
  }
});

test('custom repositories: one yum.repos stage per file after the image config\'s, inline keys as files, install_from feeds the blueprint\'s packages', (t) => {
  const key = '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBGkiln\n-----END PGP PUBLIC KEY BLOCK-----\n';
  const bp: Blueprint = {
    packages: [{ name: 'kiln-tools' }],
    customizations: {
      repositories: [
        { id: 'zeta', baseurls: ['https://repo.example.com/zeta/'], gpgkeys: [key, 'https://repo.example.com/key.asc'], gpgcheck: true, name: 'Zeta', priority: 10, enabled: true, sslverify: false, install_from: true },
        { id: 'alpha', metalink: 'https://mirrors.example.com/metalink?repo=alpha', filename: 'extra', module_hotfixes: true, repo_gpgcheck: false },
      ],
    },
  };
  const m = build('rhel-9.6', 'x86_64', 'gce', bp);
  const repos = all(m, 'org.osbuild.yum.repos').map((s) => s.options as Record<string, any>);
  t.deepEqual(repos.map((r) => r.filename), ['google-cloud.repo', 'extra.repo', 'zeta.repo']);
  t.deepEqual(repos[2].repos, [
    { id: 'zeta', baseurl: ['https://repo.example.com/zeta/'], enabled: true, priority: 10, gpgkey: ['file:///etc/pki/rpm-gpg/RPM-GPG-KEY-zeta-0', 'https://repo.example.com/key.asc'], name: 'Zeta', gpgcheck: true, sslverify: false },
  ]);
  t.deepEqual(repos[1].repos, [{ id: 'alpha', metalink: 'https://mirrors.example.com/metalink?repo=alpha', module_hotfixes: true, repo_gpgcheck: false }]);
  t.is(inlineContent(m, '/etc/pki/rpm-gpg/RPM-GPG-KEY-zeta-0'), key);
  // the install_from repository serves the blueprint's transaction only
  const image = resolveImage('rhel-9.6', 'x86_64', 'gce');
  const payload = payloadRepositories(bp.customizations!.repositories);
  t.deepEqual(payload, [{ baseurl: 'https://repo.example.com/zeta/', gpgkey: `${key}\nhttps://repo.example.com/key.asc`, check_gpg: true, ignore_ssl: true, package_sets: ['blueprint'] }]);
  const requests = depsolveRequestsFor(image, packageRequests({ image, seed: '1', blueprint: bp }), [{ baseurl: 'https://cdn.example.com/rhel9/' }, ...payload]);
  t.deepEqual(requests.os.repos.map((r) => r.id), ['repo-0', 'repo-1']);
  const [first, second, third] = requests.os.transactions;
  t.deepEqual(first.repo_ids, ['repo-0']);
  t.deepEqual(second.repo_ids, ['repo-0']);
  t.is(third.repo_ids, undefined);
  t.deepEqual(third.package_specs, ['kiln-tools']);
  t.deepEqual(requests.build.repos.map((r) => r.id), ['repo-0'], 'payload repositories are not for the build root');
  for (const [r, field] of [
    [{ id: 'bad id', baseurls: ['https://x/'] }, 'blueprint.customizations.repositories[0].id'],
    [{ id: 'x' }, 'blueprint.customizations.repositories[0]'],
    [{ id: 'x', baseurls: ['https://x/'], gpgcheck: true }, 'blueprint.customizations.repositories[0].gpgkeys'],
    [{ id: 'x', baseurls: ['https://x/'], gpgkeys: ['not a key'] }, 'blueprint.customizations.repositories[0].gpgkeys[0]'],
  ] as [NonNullable<NonNullable<Blueprint['customizations']>['repositories']>[number], string][]) {
    t.is(refused(() => build('fedora-43', 'x86_64', 'qcow2', { customizations: { repositories: [r] } })).field, field);
  }
});

test('rpm key import and dnf releasever: keys from the tree after the last rpm stage; releasever set, the stage made when the config has none', (t) => {
  const m = build('rhel-9.6', 'x86_64', 'gce', { customizations: { rpm: { import_keys: { files: ['/etc/pki/rpm-gpg/RPM-GPG-KEY-extra'] } }, dnf: { config: { set_releasever: true } } } });
  const rpms = all(m, 'org.osbuild.rpm');
  t.true((rpms.at(-1)!.options!['gpgkeys.fromtree'] as string[]).includes('/etc/pki/rpm-gpg/RPM-GPG-KEY-extra'));
  const dnf = opts(m, 'org.osbuild.dnf.config');
  t.deepEqual(dnf.config, { main: { ip_resolve: '4' } });
  t.deepEqual(dnf.variables, [{ name: 'releasever', value: '9.6' }]);
  const qcow2 = build('rhel-9.6', 'x86_64', 'qcow2', { customizations: { dnf: { config: { set_releasever: true } } } });
  t.deepEqual(opts(qcow2, 'org.osbuild.dnf.config'), { variables: [{ name: 'releasever', value: '9.6' }] });
  // Fedora's types do not take dnf options (as upstream)
  t.is(refused(() => build('fedora-43', 'x86_64', 'qcow2', { customizations: { dnf: { config: { set_releasever: true } } } })).field, 'blueprint.customizations.dnf.config.set_releasever');
});

test('FIPS: kernel arguments, an initramfs with the fips module before fstab, the crypto policy, dracut config and /etc/system-fips', (t) => {
  const m = build('rhel-9.6', 'x86_64', 'qcow2', { customizations: { fips: true } });
  const cmdline = opts(m, 'org.osbuild.kernel-cmdline').kernel_opts as string;
  // /boot by its label (by UUID only when it has none)
  t.regex(cmdline, / fips=1 boot=LABEL=boot$/);
  t.regex(opts(m, 'org.osbuild.grub2').kernel_opts, / fips=1 boot=LABEL=boot$/);
  t.deepEqual(opts(m, 'org.osbuild.dracut').add_modules, ['fips']);
  t.true(index(m, 'org.osbuild.dracut') < index(m, 'org.osbuild.fstab'));
  t.deepEqual(opts(m, 'org.osbuild.update-crypto-policies'), { policy: 'FIPS' });
  t.true(all(m, 'org.osbuild.dracut.conf').some((s) => (s.options as any).filename === '40-fips.conf'));
  t.is(inlineContent(m, '/etc/system-fips'), '# FIPS module installation complete\n');
  t.is(index(build('rhel-9.6', 'x86_64', 'qcow2', {}), 'org.osbuild.update-crypto-policies'), -1);
  // no archive or container type takes fips (as upstream's supported options)
  t.is(refused(() => build('rhel-9.6', 'x86_64', 'tar', { customizations: { fips: true } })).field, 'blueprint.customizations.fips');
});

test('OpenSCAP: profiles from the distro\'s allow list, the distro\'s datastream, tailoring by rules or a JSON file, remediation last before SELinux', (t) => {
  const m = build('rhel-9.6', 'x86_64', 'qcow2', { customizations: { openscap: { profile_id: 'xccdf_org.ssgproject.content_profile_cis', tailoring: { selected: ['rule_a'], unselected: ['rule_b'] } } } });
  const ds = '/usr/share/xml/scap/ssg/content/ssg-rhel9-ds.xml';
  t.deepEqual(opts(m, 'org.osbuild.oscap.autotailor'), {
    filepath: '/oscap_data/tailoring.xml',
    config: { datastream: ds, profile_id: 'xccdf_org.ssgproject.content_profile_cis', new_profile: 'xccdf_org.ssgproject.content_profile_cis_osbuild_tailoring', selected: ['rule_a'], unselected: ['rule_b'] },
  });
  t.deepEqual(opts(m, 'org.osbuild.oscap.remediation'), {
    data_dir: '/oscap_data',
    config: { profile_id: 'xccdf_org.ssgproject.content_profile_cis_osbuild_tailoring', datastream: ds, tailoring: '/oscap_data/tailoring.xml', compress_results: true },
  });
  t.true(opts(m, 'org.osbuild.mkdir').paths.some((p: { path: string }) => p.path === '/oscap_data'));
  const order = types(m);
  t.is(order.indexOf('org.osbuild.oscap.remediation'), order.lastIndexOf('org.osbuild.selinux') - 1);
  const requests = plan('rhel-9.6', 'qcow2', { customizations: { openscap: { profile_id: 'cis', tailoring: { selected: ['x'] } } } });
  t.true(['openscap-scanner', 'scap-security-guide', 'xz'].every((p) => requests.os[1].include.includes(p)));
  t.true(requests.build[0].include.includes('openscap-utils'), 'autotailor needs openscap-utils in the build root');
  // CentOS has its own datastream; the short profile name is taken as given
  const c = build('centos-9', 'x86_64', 'qcow2', { customizations: { openscap: { profile_id: 'stig' } } });
  t.deepEqual(opts(c, 'org.osbuild.oscap.remediation').config, { profile_id: 'stig', datastream: '/usr/share/xml/scap/ssg/content/ssg-cs9-ds.xml', compress_results: true });
  const j = build('rhel-9.6', 'x86_64', 'qcow2', { customizations: { openscap: { profile_id: 'cis', json_tailoring: { profile_id: 'my_cis', filepath: '/etc/kiln/tailoring.json' } } } });
  t.deepEqual(opts(j, 'org.osbuild.oscap.autotailor').config, { datastream: ds, tailored_profile_id: 'my_cis', tailoring_file: '/etc/kiln/tailoring.json' });
  t.is(opts(j, 'org.osbuild.oscap.remediation').config.profile_id, 'my_cis');
  const bad = refused(() => build('fedora-43', 'x86_64', 'qcow2', { customizations: { openscap: { profile_id: 'stig' } } }));
  t.is(bad.field, 'blueprint.customizations.openscap.profile_id');
  t.regex(bad.message, /supported: ospp, pci-dss, standard/);
  t.is(refused(() => build('rhel-9.6', 'x86_64', 'qcow2', { customizations: { openscap: { profile_id: 'cis', tailoring: {}, json_tailoring: { profile_id: 'a', filepath: '/a' } } } })).field, 'blueprint.customizations.openscap');
});

test('CA certificates: one anchor per certificate named by its serial, root-owned, then update-ca-trust', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kiln-cacert-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pems = ['0x1f2e3d', '0x0a'].map((serial, i) => {
    const file = path.join(dir, `ca${i}.pem`);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', path.join(dir, `k${i}`), '-out', file, '-subj', `/CN=Kiln test CA ${i}`, '-days', '2', '-set_serial', serial], { stdio: 'ignore' });
    return readFileSync(file, 'utf8');
  });
  const m = build('fedora-43', 'x86_64', 'qcow2', { customizations: { cacerts: { pem_certs: [pems.join(''), `junk before\n${pems[0]}`] } } });
  t.deepEqual(copied(m).filter((p) => p.includes('anchors')), ['/etc/pki/ca-trust/source/anchors/1f2e3d.pem', '/etc/pki/ca-trust/source/anchors/a.pem', '/etc/pki/ca-trust/source/anchors/1f2e3d.pem']);
  t.is(inlineContent(m, '/etc/pki/ca-trust/source/anchors/a.pem'), pems[1]);
  t.true(all(m, 'org.osbuild.chown').some((s) => JSON.stringify(s.options).includes('"/etc/pki/ca-trust/source/anchors/a.pem":{"user":"root","group":"root"}')));
  t.is(types(m).filter((x) => x === 'org.osbuild.pki.update-ca-trust').length, 1);
  t.true(index(m, 'org.osbuild.pki.update-ca-trust') < index(m, 'org.osbuild.selinux'));
  t.is(refused(() => build('fedora-43', 'x86_64', 'qcow2', { customizations: { cacerts: { pem_certs: ['no certificate here'] } } })).field, 'blueprint.customizations.cacerts.pem_certs[0]');
});

test('rhsm and sshd: merged field by field over the image config; sshd options where the config has none make the stage', (t) => {
  const m = build('rhel-9.6', 'x86_64', 'gce', { customizations: { sshd: { password_authentication: true, permit_root_login: 'prohibit-password' } } });
  t.deepEqual(opts(m, 'org.osbuild.sshd.config'), { config: { PasswordAuthentication: true, ClientAliveInterval: 420, PermitRootLogin: 'prohibit-password' } });
  const r = build('rhel-9.6', 'x86_64', 'qcow2', {
    customizations: {
      rhsm: { config: { dnf_plugins: { product_id: { enabled: true } }, subscription_manager: { rhsm: { manage_repos: true }, rhsmcertd: { auto_registration: true } } } },
    },
  });
  t.deepEqual(opts(r, 'org.osbuild.rhsm'), {
    'dnf-plugins': { 'product-id': { enabled: true }, 'subscription-manager': { enabled: false } },
    'subscription-manager': { rhsm: { manage_repos: true }, rhsmcertd: { auto_registration: true } },
  });
  const f = build('fedora-43', 'x86_64', 'qcow2', { customizations: { sshd: { client_alive_interval: 60, kbd_interactive_authentication: false } } });
  t.deepEqual(opts(f, 'org.osbuild.sshd.config'), { config: { ChallengeResponseAuthentication: false, ClientAliveInterval: 60 } });
  t.is(refused(() => build('fedora-43', 'x86_64', 'qcow2', { customizations: { sshd: { permit_root_login: 'sometimes' } } })).field, 'blueprint.customizations.sshd.permit_root_login');
});

test('packages, modules and groups: the blueprint\'s own transaction, last, versions as name-version, module streams enabled for it', (t) => {
  const bp: Blueprint = {
    packages: [{ name: 'tmux' }, { name: 'vim-enhanced', version: '9.1.*' }, { name: 'htop', version: '*' }],
    modules: [{ name: 'nodejs' }],
    groups: [{ name: 'development-tools' }],
    enabled_modules: [{ name: 'nodejs', stream: '22' }],
  };
  const chain = plan('rhel-9.6', 'qcow2', bp).os;
  t.deepEqual(chain.at(-1), { include: ['tmux', 'vim-enhanced-9.1.*', 'htop', 'nodejs', '@development-tools'], exclude: [], install_weak_deps: false, blueprint: true, enable_modules: ['nodejs:22'] });
  const image = resolveImage('rhel-9.6', 'x86_64', 'qcow2');
  const t3 = depsolveRequestsFor(image, chain.length ? { os: chain } : {}, [{ baseurl: 'https://x/' }]).os.transactions.at(-1)!;
  t.deepEqual(t3.module_enable_specs, ['nodejs:22']);
  t.is(refused(() => build('rhel-9.6', 'x86_64', 'qcow2', { packages: [{ name: '' }] })).field.startsWith('blueprint.packages[0]'), true);
});

test('what the type cannot carry is refused naming the field; name, version and description are always allowed', (t) => {
  const container = resolveImage('fedora-43', 'x86_64', 'container');
  t.deepEqual(unsupportedPaths({ name: 'x', version: '1.0.0', description: 'd', customizations: { filesystem: [{ mountpoint: '/var', minsize: '1 GiB' }], kernel: { append: 'x' }, hostname: 'h' } }, container.supportedCustomizations!), [
    'customizations.filesystem',
    'customizations.kernel.append',
  ]);
  const err = refused(() => build('fedora-43', 'x86_64', 'container', { customizations: { filesystem: [{ mountpoint: '/var', minsize: '1 GiB' }] } }));
  t.is(err.field, 'blueprint.customizations.filesystem');
  t.regex(err.message, /is not supported by image type generic-container/);
  // empty values are unset, as upstream counts them
  t.notThrows(() => build('fedora-43', 'x86_64', 'container', { customizations: { kernel: {}, filesystem: [] } }));
  t.is(refused(() => build('fedora-43', 'x86_64', 'qcow2', { architecture: 'aarch64' })).field, 'blueprint.architecture');
  t.is(refused(() => build('fedora-43', 'x86_64', 'qcow2', { distro: 'fedora-42' })).field, 'blueprint.distro');
  t.notThrows(() => build('fedora-43', 'x86_64', 'qcow2', { distro: 'fedora-43' }));
});

test('a TOML blueprint as image-builder writes it gives the same manifest as its JSON form', (t) => {
  const toml = `
name = "kiln-web"
version = "1.2.3"

[[packages]]
name = "nginx"

[customizations]
hostname = "web1"

[[customizations.user]]
name = "web"
groups = ["wheel"]
key = "ssh-ed25519 AAAAweb"

[customizations.services]
enabled = ["nginx"]

[customizations.timezone]
timezone = "UTC"
ntpservers = ["time.example.com"]
`;
  const fromToml = parseBlueprint(toml);
  const fromJson = parseBlueprint(JSON.stringify(fromToml));
  t.deepEqual(fromToml, fromJson);
  const m = build('fedora-43', 'x86_64', 'qcow2', fromToml);
  t.deepEqual(opts(m, 'org.osbuild.users').users, { web: { key: 'ssh-ed25519 AAAAweb', groups: ['wheel'] } });
  t.deepEqual(JSON.stringify(m), JSON.stringify(build('fedora-43', 'x86_64', 'qcow2', fromJson)));
  const bad = t.throws(() => parseBlueprint('name = "x"\n[customizations]\nhostnme = "typo"\n'), { instanceOf: InvalidInputError })! as InvalidInputError;
  t.regex(bad.field, /^blueprint\.customizations/);
});

test('filesystem and disk: the table grows or is made from the blueprint, the disk stages follow; mount points upstream refuses are refused', (t) => {
  const image = (m: Manifest) => m.pipelines.find((p) => p.name === 'image')!.stages;
  const lvm = build('rhel-9.6', 'x86_64', 'qcow2', { customizations: { filesystem: [{ mountpoint: '/var', minsize: '2 GiB' }] } });
  const create = image(lvm).find((s) => s.type === 'org.osbuild.lvm2.create')!.options as { volumes: { name: string; size: string }[] };
  t.true(create.volumes.some((v) => v.name === 'varlv'), JSON.stringify(create.volumes));
  t.regex(JSON.stringify(opts(lvm, 'org.osbuild.fstab')), /"path":"\/var"/);
  // composer's request-level mode is a build option; raw keeps plain partitions
  const rawImage = resolveImage('rhel-9.6', 'x86_64', 'qcow2');
  const rawInput = { image: rawImage, seed: '1', blueprint: { customizations: { filesystem: [{ mountpoint: '/var', minsize: 2 * 1024 ** 3 }] } }, options: { partitioningMode: 'raw' as const } };
  const raw = generateManifest({ ...rawInput, packages: syntheticDepsolve(packageRequests(rawInput), 'x86_64') });
  t.falsy(raw.pipelines.find((p) => p.name === 'image')!.stages.find((s) => s.type === 'org.osbuild.lvm2.create'));
  const disk = build('fedora-43', 'x86_64', 'qcow2', {
    customizations: { disk: { partitions: [{ type: 'plain', mountpoint: '/', minsize: '6 GiB', fs_type: 'ext4' }, { type: 'plain', mountpoint: '/data', minsize: '1 GiB', fs_type: 'xfs', label: 'data' }] } },
  });
  t.true(image(disk).some((s) => s.type === 'org.osbuild.mkfs.xfs' && (s.options as { label?: string }).label === 'data'));
  t.is(refused(() => build('fedora-43', 'x86_64', 'qcow2', { customizations: { filesystem: [{ mountpoint: '/etc', minsize: '1 GiB' }] } })).field.startsWith('blueprint.customizations.filesystem'), true);
  t.is(refused(() => build('fedora-43', 'x86_64', 'qcow2', { customizations: { filesystem: [{ mountpoint: '/var', minsize: 'lots' }] } })).field, 'blueprint.customizations.filesystem[0].minsize');
  t.is(refused(() => build('fedora-43', 'x86_64', 'qcow2', { customizations: { disk: { partitions: [{ minsize: '1 GiB', mountpoint: '/boot', fs_type: 'vfat' }] } } })).field.startsWith('blueprint.customizations.disk.partitions[0]'), true);
});
