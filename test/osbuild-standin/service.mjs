#!/usr/bin/env node
// A host service of the osbuild stand-in, as osbuild's device and mount services are
// (osbuild/host.py Service.main): it ignores SIGTERM and SIGINT, so that osbuild can stop its
// services in order, and tears down what it set up once its control pipe (stdin) closes,
// which happens when osbuild stops it or dies. Killed with SIGKILL, it leaves it all behind.
//   service.mjs loop FILE         attaches a loop device to FILE (and inhibits udev rules for
//                                 it, as osbuild does), prints its path
//   service.mjs mount MOUNTPOINT  mounts a tmpfs there, prints the mountpoint
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const UDEV_LOCKS = '/run/osbuild/locks/udev';

process.on('SIGTERM', () => undefined);
process.on('SIGINT', () => undefined);

const [kind, target] = process.argv.slice(2);
let teardown;
try {
  if (kind === 'loop') {
    const dev = execFileSync('losetup', ['--find', '--show', target], { encoding: 'utf8' }).trim();
    // osbuild/util/udev.py UdevInhibitor: a lock file per device while the service holds it
    const lock = path.join(UDEV_LOCKS, `device-${readFileSync(`/sys/block/${path.basename(dev)}/dev`, 'utf8').trim()}`);
    mkdirSync(UDEV_LOCKS, { recursive: true });
    writeFileSync(lock, '');
    teardown = () => {
      execFileSync('losetup', ['--detach', dev]);
      rmSync(lock, { force: true });
    };
    process.stdout.write(`${dev}\n`);
  } else if (kind === 'mount') {
    mkdirSync(target, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0755', 'osbuild-standin', target]);
    teardown = () => execFileSync('umount', [target]);
    process.stdout.write(`${target}\n`);
  } else {
    throw new Error(`unknown service ${kind}`);
  }
} catch (err) {
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
}
process.stdin.on('data', () => undefined);
process.stdin.on('end', () => {
  try {
    teardown();
  } finally {
    process.exit(0);
  }
});
