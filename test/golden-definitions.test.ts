/**
 * The golden comparison (issue 13): Kiln's resolved definitions against osbuild/images' own, for
 * every (distro, arch, image type) either side offers among the kinds Kiln builds. Every
 * difference must be listed, with its reason, in image-types/DIFFERENCES.yaml.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { builtinDefinitionsDir, loadCatalog } from '../src/osbuild/index.js';
import { compareWithUpstream, type Difference } from './helpers/definitions-compare.js';
import { KILN_DISTROS, loadUpstreamDefs } from './helpers/upstream-defs.js';
import { findReference } from './helpers/reference.js';

// upstream's kind names (image_func): network-installer is spelled with a dash there
const KINDS = new Set(['disk', 'tar', 'container', 'ostree_commit', 'ostree_container', 'ostree_disk', 'ostree_installer', 'ostree_simplified_installer', 'image_installer', 'live_installer', 'network-installer', 'pxe_tar']);

interface Listed {
  where: string;
  field: string;
  reason: string;
}

/** distro/arch/type with * for any run of characters. */
function glob(pattern: string): RegExp {
  return new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}

test('Kiln\'s image definitions equal osbuild/images\' but for the differences listed with their reasons', (t) => {
  const dir = process.env.KILN_UPSTREAM_DEFS ?? findReference('upstream/images-distrodefs');
  if (!dir) {
    t.log('skipped: shared/reference/upstream/images-distrodefs is not here');
    t.pass();
    return;
  }
  const listed = (YAML.parse(readFileSync(path.join(builtinDefinitionsDir, 'DIFFERENCES.yaml'), 'utf8')) as { definitions: Listed[] }).definitions;
  for (const l of listed) t.true(l.reason.length > 20, `${l.where} ${l.field}: a reason`);
  const { compared, differences } = compareWithUpstream(loadUpstreamDefs(dir), loadCatalog(), KILN_DISTROS, KINDS);
  const used = new Set<Listed>();
  const unlisted: Difference[] = [];
  for (const d of differences) {
    const entry = listed.find((l) => l.field === d.field && glob(l.where).test(d.where));
    if (entry) used.add(entry);
    else unlisted.push(d);
  }
  for (const d of unlisted.slice(0, 20)) t.fail(`${d.where} ${d.field}: Kiln ${JSON.stringify(d.kiln)} — upstream ${JSON.stringify(d.upstream)}`);
  t.is(unlisted.length, 0, `${unlisted.length} differences not in image-types/DIFFERENCES.yaml`);
  for (const l of listed) t.true(used.has(l), `DIFFERENCES.yaml: ${l.where} ${l.field} matches no difference any more`);
  t.true(compared > 900);
  t.log(`${compared} (distro, arch, type) compared; ${differences.length} differences, all listed (${listed.length} entries)`);
});
