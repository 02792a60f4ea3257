/**
 * Module streams in the image, as osbuild/images writes them from the depsolve result
 * (pkg/manifest/os.go): one org.osbuild.dnf.module-config stage per module (dnf's
 * /etc/dnf/modules.d/<name>.module), then /var/lib/dnf/modulefailsafe/ with each stream's
 * modulemd document as a plain file, so the installed system keeps the streams its packages
 * came from even without their repository.
 */
import type { FileNode } from '../../generated/image-definitions.schema.js';
import type { DepsolvedModule } from '../../generated/depsolve-result.schema.js';
import { directoryStages, fileStages } from './files.js';
import type { Sources } from './rpm.js';
import { stage, type Stage } from './stage.js';

/** One module stream to enable in the image (a depsolve result's module, by name). */
export type ImageModule = DepsolvedModule;

const FAILSAFE_DIR = '/var/lib/dnf/modulefailsafe';

/** The stages for `modules` (none without modules), in the order given (the caller sorts). */
export function moduleStages(modules: ImageModule[], sources: Sources): Stage[] {
  if (!modules.length) return [];
  const config = modules.map((m) => {
    const { name, stream, state, profiles } = m['module-file'].data;
    // osbuild/images' DNFModuleConfig field order; profiles always present
    return stage('org.osbuild.dnf.module-config', { conf: { name, stream, state, profiles: [...profiles] } });
  });
  const failsafe: FileNode[] = modules.map((m) => ({ path: m['failsafe-file'].path, data: m['failsafe-file'].data }) as FileNode);
  return [...config, ...directoryStages([{ path: FAILSAFE_DIR, ensure_parents: true } as FileNode]), ...fileStages(failsafe, sources)];
}
