import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * runOsbuild starts osbuild detached, in its own process group, so that cancel can signal the
 * whole group. On a build VM that has a cost: when the builder itself dies (OOM killer,
 * SIGKILL, a crash) nobody is left to signal the group and osbuild keeps the VM busy. Node has
 * no PR_SET_PDEATHSIG, so the builder runs osbuild through this small guard: it becomes the
 * group leader (runOsbuild spawns it), starts the real osbuild in the same group with the same
 * stdin/stdout/stderr/monitor fd, and checks every 250 ms that the builder is still its
 * parent; once it is not, it stops osbuild as the builder would (SIGINT to the group, so that
 * osbuild undoes its mounts and loop devices) and SIGKILLs the whole group, itself included,
 * when osbuild has not ended within KILN_BUILDER_STOP_GRACE_MS. Signals to the group reach
 * osbuild directly; the guard ignores them and exits with osbuild's status.
 *
 * It is plain JavaScript written next to the work area at start, so it runs the same from
 * source (tsx) and from dist/, with the builder's own node.
 */
export const GUARD_SOURCE = `
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';

const real = process.env.KILN_BUILDER_OSBUILD;
const parent = Number(process.env.KILN_BUILDER_PID);
const grace = Number(process.env.KILN_BUILDER_STOP_GRACE_MS) || 30000;
const env = { ...process.env };
delete env.KILN_BUILDER_OSBUILD;
delete env.KILN_BUILDER_PID;
delete env.KILN_BUILDER_STOP_GRACE_MS;

function parentPid() {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    try {
      process.kill(parent, 0);
      return parent;
    } catch {
      return 1;
    }
  }
}

const killGroup = () => {
  try {
    process.kill(-process.pid, 'SIGKILL');
  } catch {
    process.exit(137);
  }
};

process.on('SIGTERM', () => undefined);
process.on('SIGINT', () => undefined);
process.on('SIGHUP', () => undefined);
let orphaned = false;
const watch = setInterval(() => {
  if (orphaned || parentPid() === parent) return;
  orphaned = true;
  try {
    process.kill(-process.pid, 'SIGINT');
  } catch {
    // the group is gone
  }
  setTimeout(killGroup, grace);
}, 250);
const child = spawn(real, process.argv.slice(2), { env, stdio: ['inherit', 'inherit', 'inherit', 3] });
child.on('error', (err) => {
  process.stderr.write('kiln builder: cannot run osbuild at ' + real + ': ' + err.message + '\\n');
  clearInterval(watch);
  process.exitCode = err.code === 'ENOENT' ? 127 : 126;
});
child.on('exit', (code, signal) => {
  clearInterval(watch);
  const status = code ?? 128 + (constants.signals[signal] ?? 0);
  // orphaned: nobody waits for osbuild's services to end, so the guard does (within the grace)
  if (!orphaned) process.exit(status);
  setInterval(() => {
    if (groupMembers().every((p) => p === process.pid)) process.exit(status);
  }, 100);
});

function groupMembers() {
  const out = [];
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    try {
      const stat = readFileSync('/proc/' + name + '/stat', 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === process.pid && fields[0] !== 'Z') out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}
`;

/** Writes the guard into dir and returns its path (executable, with this node in its shebang). */
export async function writeGuard(dir: string): Promise<string> {
  const file = path.join(dir, '.kiln-osbuild-guard.mjs');
  await writeFile(file, `#!${process.execPath}\n${GUARD_SOURCE}`);
  await chmod(file, 0o755);
  return file;
}

/** The environment that tells the guard which osbuild to run and who its builder is. */
export function guardEnv(env: NodeJS.ProcessEnv, osbuildPath: string, stopGraceMs: number): NodeJS.ProcessEnv {
  return { ...env, KILN_BUILDER_OSBUILD: osbuildPath, KILN_BUILDER_PID: String(process.pid), KILN_BUILDER_STOP_GRACE_MS: String(stopGraceMs) };
}
