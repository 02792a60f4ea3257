import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * runOsbuild starts osbuild detached, in its own process group, so that cancel can signal the
 * whole group. On a build VM that has a cost: when the builder itself dies (OOM killer,
 * SIGKILL, a crash) nobody is left to signal the group and osbuild keeps the VM busy. Node has
 * no PR_SET_PDEATHSIG, so the builder runs osbuild through this small guard: it becomes the
 * group leader (runOsbuild spawns it), starts the real osbuild in the same group with the same
 * stdin/stdout/stderr/monitor fd, and checks every 250 ms that the builder is still its
 * parent; once it is not, it SIGKILLs the whole group, itself included. SIGTERM to the group
 * reaches osbuild directly; the guard ignores it and exits with osbuild's status.
 *
 * It is plain JavaScript written next to the work area at start, so it runs the same from
 * source (tsx) and from dist/, with the builder's own node.
 */
export const GUARD_SOURCE = `
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';

const real = process.env.KILN_BUILDER_OSBUILD;
const parent = Number(process.env.KILN_BUILDER_PID);
const env = { ...process.env };
delete env.KILN_BUILDER_OSBUILD;
delete env.KILN_BUILDER_PID;

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
const watch = setInterval(() => {
  if (parentPid() !== parent) killGroup();
}, 250);
const child = spawn(real, process.argv.slice(2), { env, stdio: ['inherit', 'inherit', 'inherit', 3] });
child.on('error', (err) => {
  process.stderr.write('kiln builder: cannot run osbuild at ' + real + ': ' + err.message + '\\n');
  clearInterval(watch);
  process.exitCode = err.code === 'ENOENT' ? 127 : 126;
});
child.on('exit', (code, signal) => {
  clearInterval(watch);
  process.exit(code ?? 128 + (constants.signals[signal] ?? 0));
});
`;

/** Writes the guard into dir and returns its path (executable, with this node in its shebang). */
export async function writeGuard(dir: string): Promise<string> {
  const file = path.join(dir, '.kiln-osbuild-guard.mjs');
  await writeFile(file, `#!${process.execPath}\n${GUARD_SOURCE}`);
  await chmod(file, 0o755);
  return file;
}

/** The environment that tells the guard which osbuild to run and who its builder is. */
export function guardEnv(env: NodeJS.ProcessEnv, osbuildPath: string): NodeJS.ProcessEnv {
  return { ...env, KILN_BUILDER_OSBUILD: osbuildPath, KILN_BUILDER_PID: String(process.pid) };
}
