/** Archives (tar, and WSL, which is a tar with its own configuration) and OCI containers of the OS tree. */
import { stage, type Pipeline } from '../stages/stage.js';
import type { KindInput } from './index.js';
import { compressionPipeline, treeInput } from './outputs.js';

export function tarPipelines(input: KindInput): Pipeline[] {
  const { image } = input;
  const file = image.compression ? 'image.tar' : image.filename;
  const out: Pipeline[] = [{ name: 'archive', build: 'name:build', stages: [stage('org.osbuild.tar', { filename: file, 'numeric-owner': true }, { inputs: { tree: treeInput('os') } })] }];
  if (image.compression) out.push(compressionPipeline(image.compression, { pipeline: 'archive', file }, image.filename));
  return out;
}

/** Go's names for the architectures (what OCI image configs use). */
const OCI_ARCH: Record<string, string> = { x86_64: 'amd64', aarch64: 'arm64', ppc64le: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

export function containerPipelines(input: KindInput, tree = 'os'): Pipeline[] {
  const { image } = input;
  const config = (image.imageConfig.oci as { archive?: Record<string, unknown> } | undefined)?.archive ?? {};
  return [
    {
      name: 'container',
      build: 'name:build',
      stages: [stage('org.osbuild.oci-archive', { architecture: OCI_ARCH[image.arch], filename: image.filename, config: structuredClone(config) }, { inputs: { base: treeInput(tree) } })],
    },
  ];
}
