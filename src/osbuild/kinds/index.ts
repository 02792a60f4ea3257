/**
 * Image kinds: each turns a resolved definition into the pipelines after the OS tree. Code is
 * per kind, never per image type: what differs between types is data.
 */
import { KilnError } from '../../errors.js';
import type { ResolvedImage } from '../definitions/resolve.js';
import type { PartitionTable } from '../partitions/model.js';
import type { SeededRandom } from '../partitions/uuids.js';
import type { PipelinePackages } from '../stages/rpm.js';
import type { Pipeline } from '../stages/stage.js';
import { containerPipelines, tarPipelines } from './archive.js';
import { diskPipelines } from './disk.js';

export interface KindInput {
  image: ResolvedImage;
  pt?: PartitionTable;
  packages?: PipelinePackages;
  kernelName?: string;
  rng: SeededRandom;
}

type KindBuilder = (input: KindInput) => Pipeline[];

const KINDS: Partial<Record<ResolvedImage['kind'], KindBuilder>> = {
  disk: diskPipelines,
  tar: tarPipelines,
  container: containerPipelines,
};

export function outputPipelines(input: KindInput): Pipeline[] {
  const builder = KINDS[input.image.kind];
  if (!builder) throw new KilnError('KILN_UNSUPPORTED_IMAGE', `image type ${input.image.name} is of kind ${input.image.kind}, which this Kiln cannot build yet`, { details: { kind: input.image.kind } });
  return builder(input);
}

/** Whether the kind's OS tree lives in a partitioned disk. */
export function usesPartitionTable(kind: ResolvedImage['kind']): boolean {
  return kind === 'disk' || kind === 'ostree_disk' || kind === 'ostree_simplified_installer' || kind === 'bootable_container';
}
