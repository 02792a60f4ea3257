/** Inputs between pipelines and the compression pipelines every kind can end with. */
import { stage, type Pipeline } from '../stages/stage.js';

export function treeInput(pipeline: string): Record<string, unknown> {
  return { type: 'org.osbuild.tree', origin: 'org.osbuild.pipeline', references: [`name:${pipeline}`] };
}

export function fileInput(pipeline: string, file: string): Record<string, unknown> {
  return { type: 'org.osbuild.files', origin: 'org.osbuild.pipeline', references: { [`name:${pipeline}`]: { file } } };
}

/** `xz`, `zstd` or `gzip` of the previous pipeline's file, named after the compression. */
export function compressionPipeline(kind: 'xz' | 'zstd' | 'gzip', from: { pipeline: string; file: string }, filename: string): Pipeline {
  return { name: kind, build: 'name:build', stages: [stage(`org.osbuild.${kind}`, { filename }, { inputs: { file: fileInput(from.pipeline, from.file) } })] };
}
