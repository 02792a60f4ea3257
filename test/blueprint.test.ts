import test from 'ava';
import { blueprintCustomizations, convertBlueprint, parseBlueprintText, splitKickstartLine, translateKickstart } from '../src/blueprint/index.js';
import { InvalidInputError } from '../src/errors.js';

const fieldOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    if (err instanceof InvalidInputError) return err.field;
    throw err;
  }
  throw new Error('did not throw');
};

test('a blueprint converts to customizations: packages, users (sshkey merged by name), hostname, kernel append, timezone, services', (t) => {
  const out = convertBlueprint({
    name: 'web',
    description: 'a web server',
    version: '1.0.0',
    distro: 'fedora-43',
    packages: [{ name: 'nginx' }, { name: 'vim-enhanced', version: '9.1*' }, { name: 'tmux', version: '*' }],
    modules: [{ name: 'podman', version: '' }],
    customizations: {
      hostname: 'web1',
      kernel: { append: 'console=ttyS0' },
      sshkey: [{ user: 'ops', key: 'ssh-ed25519 AAA ops' }, { user: 'root', key: 'ssh-ed25519 BBB root' }],
      user: [{ name: 'ops', password: '$6$salt$hash', groups: ['wheel'] }],
      timezone: { timezone: 'Europe/Prague' },
      services: { enabled: ['nginx'], disabled: ['kdump'] },
      fips: false,
      firewall: {},
    },
  });
  t.deepEqual(out, {
    distro: 'fedora-43',
    customizations: {
      packages: ['nginx', 'vim-enhanced-9.1*', 'tmux', 'podman'],
      hostname: 'web1',
      kernel: { append: 'console=ttyS0' },
      // a later user entry of the same name replaces the sshkey one (image-builder's GetUsers)
      users: [{ name: 'ops', password: '$6$salt$hash', groups: ['wheel'] }, { name: 'root', key: 'ssh-ed25519 BBB root' }],
      timezone: { timezone: 'Europe/Prague' },
      services: { enabled: ['nginx'], disabled: ['kdump'] },
    },
    unsupported: [],
  });
});

test('what Kiln cannot apply yet is collected with its field, and refused naming the first', (t) => {
  const bp = {
    groups: [{ name: 'core' }],
    customizations: {
      firewall: { ports: ['22:tcp'] },
      user: [{ name: 'u', password: 'plain', home: '/srv/u' }],
      kernel: { name: 'kernel-debug' },
      timezone: { ntpservers: ['pool.ntp.org'] },
      services: { masked: ['x'] },
      fips: true,
    },
  };
  const { unsupported, customizations } = convertBlueprint(bp);
  t.deepEqual(
    unsupported.map((u) => u.field),
    [
      'blueprint.groups',
      'blueprint.customizations.firewall',
      'blueprint.customizations.kernel.name',
      'blueprint.customizations.user[0].password',
      'blueprint.customizations.user[0].home',
      'blueprint.customizations.timezone.ntpservers',
      'blueprint.customizations.services.masked',
      'blueprint.customizations.fips',
    ],
  );
  t.deepEqual(customizations, { users: [{ name: 'u' }] });
  const err = t.throws(() => blueprintCustomizations(bp), { instanceOf: InvalidInputError });
  t.is(err!.field, 'blueprint.groups');
  t.regex(err!.message, /package groups are not supported by Kiln yet/);
  t.is((err!.details!.unsupported as unknown[]).length, 8);
});

test('malformed blueprints are refused naming the field', (t) => {
  t.is(fieldOf(() => convertBlueprint({ nope: 1 })), 'blueprint.nope');
  t.is(fieldOf(() => convertBlueprint({ customizations: { kernal: {} } })), 'blueprint.customizations.kernal');
  t.is(fieldOf(() => convertBlueprint({ packages: [{ version: '1' }] })), 'blueprint.packages[0].name');
  t.is(fieldOf(() => convertBlueprint({ packages: 'vim' })), 'blueprint.packages');
  t.is(fieldOf(() => convertBlueprint({ customizations: { user: [{ name: 'bad name!' }] } })), 'blueprint.customizations.user[0].name');
  t.is(fieldOf(() => convertBlueprint({ customizations: { hostname: 'bad host' } })), 'blueprint.customizations.hostname');
  t.is(fieldOf(() => convertBlueprint({ customizations: { services: { enabled: 'sshd' } } })), 'blueprint.customizations.services.enabled');
  t.is(fieldOf(() => convertBlueprint([])), 'blueprint');
  t.is(fieldOf(() => convertBlueprint({ customizations: { user: [{ name: 'u', shoe: 1 }] } }, 'opts.blueprint')), 'opts.blueprint.customizations.user[0].shoe');
});

test('TOML and JSON blueprint files give the same blueprint', (t) => {
  const toml = `name = "web"
distro = "fedora-43"

[[packages]]
name = "nginx"

[customizations]
hostname = "web1"

[[customizations.user]]
name = "ops"
groups = ["wheel"]

[customizations.services]
enabled = ["nginx"]
`;
  const json = JSON.stringify({ name: 'web', distro: 'fedora-43', packages: [{ name: 'nginx' }], customizations: { hostname: 'web1', user: [{ name: 'ops', groups: ['wheel'] }], services: { enabled: ['nginx'] } } });
  t.deepEqual(parseBlueprintText(toml), JSON.parse(json));
  t.deepEqual(parseBlueprintText(json), JSON.parse(json));
  t.deepEqual(parseBlueprintText(JSON.stringify({ blueprint: JSON.parse(json) })), JSON.parse(json), 'the legacy wrapper');
  t.deepEqual(convertBlueprint(parseBlueprintText(toml)), convertBlueprint(parseBlueprintText(json)));
  t.is(fieldOf(() => parseBlueprintText('name = ')), 'blueprint');
  t.is(fieldOf(() => parseBlueprintText('[1, 2]', 'bp.json')), 'bp.json');
});

test('kickstart tokens: quotes, escapes and comments as pykickstart splits them', (t) => {
  t.deepEqual(splitKickstartLine(`bootloader --append="console=tty0 quiet" --timeout=1 # comment`), ['bootloader', '--append=console=tty0 quiet', '--timeout=1']);
  t.deepEqual(splitKickstartLine(`sshkey --username=a 'ssh-rsa AAA# x'`), ['sshkey', '--username=a', 'ssh-rsa AAA# x']);
  t.deepEqual(splitKickstartLine(`rootpw --iscrypted $6$x$y#z`), ['rootpw', '--iscrypted', '$6$x$y#z']);
  t.throws(() => splitKickstartLine('user --name="a'));
});

const CLOUD_KS = `# a Fedora cloud kickstart
text
lang en_US.UTF-8
keyboard us
timezone Etc/UTC --utc
selinux --enforcing
rootpw --lock --iscrypted locked
user --name=admin --groups=wheel --password="$6$abc$def" --iscrypted
sshkey --username=admin "ssh-ed25519 AAAA admin@x"
firewall --disabled
bootloader --timeout=1 --append="console=ttyS0,115200n8 net.ifnames=0"
network --bootproto=dhcp --device=link --activate --onboot=on --hostname=cloudy
services --enabled=sshd,cloud-init --disabled=kdump
zerombr
clearpart --all
part / --fstype ext4 --grow --size=3000
url --url=http://example.test/os
repo --name=updates --baseurl=http://example.test/updates
shutdown
%packages --instLangs=en
@core
kernel-core
-dracut-config-rescue
cloud-init
%end
%post --erroronfail
passwd -d root
%end
`;

test('a kickstart: what maps becomes customizations, the rest is listed line by line (applied, not applied, ignored)', (t) => {
  const tr = translateKickstart(CLOUD_KS);
  t.deepEqual(tr.customizations, {
    packages: ['kernel-core', 'cloud-init'],
    hostname: 'cloudy',
    kernel: { append: 'console=ttyS0,115200n8 net.ifnames=0' },
    users: [{ name: 'admin', password: '$6$abc$def', key: 'ssh-ed25519 AAAA admin@x', groups: ['wheel'] }],
    timezone: { timezone: 'Etc/UTC' },
    services: { enabled: ['sshd', 'cloud-init'], disabled: ['kdump'] },
  });
  const notApplied = Object.fromEntries(tr.not_applied.map((n) => [n.line, n.reason]));
  t.deepEqual(Object.keys(notApplied).map(Number), [3, 4, 10, 11, 16, 20, 21, 23, 26]);
  t.regex(notApplied[3], /locale and keyboard settings are not supported by Kiln yet/);
  t.regex(notApplied[10], /turning the firewall off/);
  t.regex(notApplied[11], /--timeout/);
  t.regex(notApplied[16], /customizations\.filesystem: file system sizes are not supported/);
  t.regex(notApplied[21], /@core/);
  t.regex(notApplied[23], /excluding dracut-config-rescue/);
  t.regex(notApplied[26], /%post sections are not run/);
  t.deepEqual(tr.ignored.map((i) => i.text.split(' ')[0]), ['text', 'zerombr', 'clearpart', 'url', 'repo', 'shutdown']);
  t.true(tr.applied.some((a) => a.text.startsWith('user --name=admin')));
  t.false(tr.applied.some((a) => a.line === 27), 'the %post body is not a command');
});

test('kickstart: plain-text passwords, unknown commands, unresolved %include and an unterminated section', (t) => {
  const tr = translateKickstart('rootpw secret\nuser --name=u --password=pw\nfrobnicate --now\n%include other.ks\n');
  t.deepEqual(tr.customizations, { users: [{ name: 'u' }] });
  t.deepEqual(
    tr.not_applied.map((n) => [n.line, n.reason.split(':')[0]]),
    [[1, 'a plain-text root password'], [2, 'a plain-text password for u'], [3, 'frobnicate has no blueprint equivalent'], [4, '%include was not resolved (the builder resolves includes before translating)']],
  );
  const err = t.throws(() => translateKickstart('%post\necho\n'), { instanceOf: InvalidInputError });
  t.is(err!.field, 'kickstart line 1');
  t.regex(err!.message, /%post has no %end/);
});
