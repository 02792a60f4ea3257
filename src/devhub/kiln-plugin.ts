/**
 * Kiln's hub plugin call, in the dev hub as in a hub with koji-plugin/hub/kiln.py enabled:
 * `host.kilnAttachImages(task_id, source, files)` puts the images Kiln built for a task into
 * that task's directory, where Koji's own image tasks leave theirs (Pungi, `koji
 * download-task` and moveImageBuildToScratch read them there). Only the host running the task
 * may, as for its uploads. A scratch build's files are moved out of Kiln's upload directory
 * (`{directory}`); an imported build's image archives get a symlink to where the import put
 * them (`{build_id}`), as the hub's own image import leaves one.
 */
import { lstat, mkdir, rename, symlink } from 'node:fs/promises';
import path from 'node:path';
import { BUILD_STATES, FaultCode, HubFault, convertInt, genericError, parseUploadOwner, pyRepr, uploadTarget } from './rules.js';
import { readFile } from 'node:fs/promises';
import { assertTaskHost, taskRelPath, verifiedHost } from './host.js';
import type { CallContext, MethodSpec } from './methods.js';
import type { HubTables } from './state.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Args = Record<string, any>;

/** The top of a task's tree: builds of Koji's image tasks name their parent task. */
function topTask(t: HubTables, taskId: number): number {
  let id = taskId;
  const seen = new Set<number>();
  while (t.tasks[id]?.parent != null && !seen.has(id)) {
    seen.add(id);
    id = t.tasks[id].parent!;
  }
  return id;
}

function fileNames(files: unknown): string[] {
  if (!Array.isArray(files) || files.length === 0) throw new HubFault(FaultCode.ParameterError, 'files: a non-empty list of file names is required');
  return files.map((f) => {
    if (typeof f !== 'string' || !f || f.includes('/') || f.startsWith('.')) throw genericError(`Invalid file name: ${pyRepr(f)}`);
    return f;
  });
}

export const kilnPluginMethods: Record<string, MethodSpec> = {
  'host.kilnAttachImages': {
    py: 'kilnAttachImages',
    params: ['task_id', 'source', 'files'],
    async fn(ctx: CallContext, a: Args) {
      if (!ctx.hub.options.plugins?.includes('kiln')) throw genericError('Invalid method: host.kilnAttachImages');
      const host = verifiedHost(ctx);
      const taskId = convertInt(a.task_id)!;
      assertTaskHost(ctx.t, taskId, host);
      const names = fileNames(a.files);
      const source = a.source as Args;
      if (!source || typeof source !== 'object' || Array.isArray(source) || ('directory' in source) === ('build_id' in source)) {
        throw new HubFault(FaultCode.ParameterError, 'source: give {"directory": <upload directory>} or {"build_id": <build>}');
      }
      const dest = path.join(ctx.hub.workDir, taskRelPath(taskId));
      await mkdir(dest, { recursive: true });
      const clash = async (name: string) => {
        if (await lstat(path.join(dest, name)).catch(() => undefined)) throw genericError(`${name} is already in the directory of task ${taskId}`);
      };
      if ('directory' in source) {
        const target = uploadTarget(String(source.directory), names[0]);
        if (target.taskId !== undefined) throw genericError(`Not an upload directory: ${String(source.directory)}`);
        const dir = path.join(ctx.hub.workDir, target.dir);
        const owner = await readFile(path.join(dir, '.user'), 'utf8').then(parseUploadOwner, () => null);
        const cgUser = owner !== null && Object.values(ctx.t.cgs).some((cg) => cg.users.includes(owner));
        if (!cgUser) throw new HubFault(FaultCode.ActionNotAllowed, `${String(source.directory)} is not a content generator's upload directory`);
        for (const name of names) {
          const st = await lstat(path.join(dir, name)).catch(() => undefined);
          if (!st?.isFile()) throw genericError(`No such file: ${path.join(target.dir, name)}`);
          await clash(name);
        }
        for (const name of names) await rename(path.join(dir, name), path.join(dest, name));
        return names;
      }
      const build = ctx.t.builds[convertInt(source.build_id)!];
      if (!build) throw genericError(`No such build: ${String(source.build_id)}`);
      if (build.state !== BUILD_STATES.COMPLETE || !build.btypes.includes('image')) throw genericError(`Build ${build.id} is not a complete image build`);
      if (build.task_id === null || topTask(ctx.t, build.task_id) !== topTask(ctx.t, taskId)) {
        throw new HubFault(FaultCode.ActionNotAllowed, `Build ${build.id} does not belong to the tasks of task ${taskId}`);
      }
      const images = path.join(ctx.hub.packagesDir, build.name, build.version, build.release, 'images');
      for (const name of names) {
        const archive = Object.values(ctx.t.archives).find((r) => r.build_id === build.id && r.btype === 'image' && r.filename === name);
        if (!archive) throw genericError(`${name} is not an image archive of build ${build.id}`);
        await clash(name);
      }
      for (const name of names) await symlink(path.relative(dest, path.join(images, name)), path.join(dest, name));
      return names;
    },
  },
};
