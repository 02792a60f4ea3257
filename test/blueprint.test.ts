import test from 'ava';
import { isCrypted, splitKickstartLine, translateKickstart } from '../src/blueprint/index.js';
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

test('a kickstart: what maps becomes a blueprint, the rest is listed line by line (applied, not applied, ignored)', (t) => {
  const tr = translateKickstart(CLOUD_KS);
  t.deepEqual(tr.blueprint, {
    name: 'kickstart',
    packages: [{ name: 'kernel-core' }, { name: 'cloud-init' }],
    groups: [{ name: 'core' }],
    customizations: {
      locale: { languages: ['en_US.UTF-8'], keyboard: 'us' },
      timezone: { timezone: 'Etc/UTC' },
      kernel: { append: 'console=ttyS0,115200n8 net.ifnames=0' },
      hostname: 'cloudy',
      user: [{ name: 'admin', groups: ['wheel'], password: '$6$abc$def', key: 'ssh-ed25519 AAAA admin@x' }],
      services: { enabled: ['sshd', 'cloud-init'], disabled: ['kdump'] },
      filesystem: [{ mountpoint: '/', minsize: '3000 MiB' }],
    },
  });
  const notApplied = Object.fromEntries(tr.not_applied.map((n) => [n.line, n.reason]));
  t.deepEqual(Object.keys(notApplied).map(Number), [10, 11, 16, 20, 23, 26]);
  t.regex(notApplied[10], /turning the firewall off/);
  t.regex(notApplied[11], /--timeout/);
  t.regex(notApplied[16], /--fstype, --grow|--grow/);
  t.regex(notApplied[20], /%packages --instlangs/);
  t.regex(notApplied[23], /excluding dracut-config-rescue/);
  t.regex(notApplied[26], /%post sections are not run/);
  t.deepEqual(tr.ignored.map((i) => i.text.split(' ')[0]), ['text', 'zerombr', 'clearpart', 'url', 'repo', 'shutdown']);
  t.true(tr.applied.some((a) => a.text.startsWith('user --name=admin')));
  t.true(tr.applied.some((a) => a.text === '@core'), 'package groups are blueprint groups');
  t.true(tr.applied.some((a) => a.text.startsWith('part /')), 'partition sizes are file system minimum sizes');
  t.false(tr.applied.some((a) => a.line === 27), 'the %post body is not a command');
});

test('kickstart: plain-text passwords are crypted; what the blueprint checks refuse, unknown commands and unresolved %include are not applied', (t) => {
  const tr = translateKickstart('rootpw secret\nuser --name=u --password=pw\nuser --name="bad name!" --groups=wheel\nfrobnicate --now\n%include other.ks\npart /data --size=10\n');
  const users = tr.blueprint.customizations?.user ?? [];
  t.deepEqual(users.map((u) => u.name), ['root', 'u']);
  t.true(users.every((u) => isCrypted(u.password!)), 'no password is kept in clear');
  t.deepEqual(tr.blueprint.customizations?.filesystem, [{ mountpoint: '/data', minsize: '10 MiB' }]);
  t.deepEqual(
    tr.not_applied.map((n) => [n.line, n.reason.split(':')[0]]),
    [[3, 'blueprint.customizations.user[2].name'], [4, 'frobnicate has no blueprint equivalent'], [5, '%include was not resolved (the builder resolves includes before translating)']],
  );
  t.false(tr.applied.some((a) => a.line === 3));
  const err = t.throws(() => translateKickstart('%post\necho\n'), { instanceOf: InvalidInputError });
  t.is(err!.field, 'kickstart line 1');
  t.regex(err!.message, /%post has no %end/);
});
