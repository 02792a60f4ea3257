/**
 * Prints which image types osbuild/images defines for the distros Kiln builds: one row per
 * family × image type × arch set, with the aliases and the distro versions that have it.
 *
 *   npx tsx scripts/upstream-matrix.ts [--json] [--dir DIR] [DISTRO…]
 *
 * DIR defaults to $KILN_UPSTREAM_DEFS or ../shared/reference/upstream/images-distrodefs;
 * DISTRO… defaults to every distro Kiln builds (fedora-41…45, centos-9, rhel-9.0…9.10,
 * centos-10, rhel-10.0…10.10). --json prints the raw (distro, type, arch) entries instead.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KILN_DISTROS, loadUpstreamDefs, upstreamDefsDir, type MatrixEntry } from '../test/helpers/upstream-defs.js';

const ARCH_ORDER = ['x86_64', 'aarch64', 'ppc64le', 's390x', 'riscv64'];

function parseArgs(argv: string[]): { json: boolean; dir: string; distros: string[] } {
  let json = false;
  let dir = upstreamDefsDir(path.resolve(fileURLToPath(new URL('..', import.meta.url))));
  const distros: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--json') json = true;
    else if (argv[i] === '--dir') dir = argv[++i];
    else if (argv[i].startsWith('-')) throw new Error(`unknown option ${argv[i]}`);
    else distros.push(argv[i]);
  }
  return { json, dir, distros: distros.length ? distros : [...KILN_DISTROS] };
}

/** "rhel-9.0 … rhel-9.10" for a run of consecutive requested distros, else the names. */
function distroRuns(names: string[], order: string[]): string {
  const runs: string[][] = [];
  for (const n of names) {
    const last = runs[runs.length - 1];
    if (last && order.indexOf(n) === order.indexOf(last[last.length - 1]) + 1) last.push(n);
    else runs.push([n]);
  }
  return runs.map((r) => (r.length > 2 ? `${r[0]} … ${r[r.length - 1]}` : r.join(', '))).join(', ');
}

function main(): void {
  const { json, dir, distros } = parseArgs(process.argv.slice(2));
  const defs = loadUpstreamDefs(dir);
  const entries = defs.upstreamMatrix(distros);
  const order = entries.map((e) => e.distro).filter((d, i, a) => a.indexOf(d) === i);
  if (json) {
    process.stdout.write(`${JSON.stringify(entries, null, 1)}\n`);
    return;
  }

  // family → type → distro → entries
  const byType = new Map<string, Map<string, Map<string, MatrixEntry[]>>>();
  for (const e of entries) {
    const types = byType.get(e.family) ?? new Map<string, Map<string, MatrixEntry[]>>();
    byType.set(e.family, types);
    const ds = types.get(e.name) ?? new Map<string, MatrixEntry[]>();
    types.set(e.name, ds);
    ds.set(e.distro, [...(ds.get(e.distro) ?? []), e]);
  }

  const lines = ['| family | image type | kind | arches | aliases | distros |', '| --- | --- | --- | --- | --- | --- |'];
  for (const [family, types] of byType) {
    for (const [name, ds] of [...types].sort(([a], [b]) => (a < b ? -1 : 1))) {
      // consecutive distros with the same arches and aliases share a row
      const groups: { sig: string; arches: string; aliases: string; kind: string; distros: string[] }[] = [];
      for (const d of order.filter((x) => ds.has(x))) {
        const es = (ds.get(d) as MatrixEntry[]).sort((a, b) => ARCH_ORDER.indexOf(a.arch) - ARCH_ORDER.indexOf(b.arch));
        const arches = es.map((e) => e.arch).join(', ');
        const aliasSets = [...new Set(es.map((e) => e.aliases.join(', ')))];
        const aliases = aliasSets.length === 1 ? aliasSets[0] : es.map((e) => `${e.arch}: ${e.aliases.join(', ') || '–'}`).join('; ');
        const sig = `${arches}|${aliases}|${es[0].kind}`;
        const last = groups[groups.length - 1];
        if (last && last.sig === sig) last.distros.push(d);
        else groups.push({ sig, arches, aliases, kind: es[0].kind, distros: [d] });
      }
      for (const g of groups) lines.push(`| ${family} | ${name} | ${g.kind} | ${g.arches} | ${g.aliases} | ${distroRuns(g.distros, order)} |`);
    }
  }
  lines.push('');
  const count = (pred: (e: MatrixEntry) => boolean): number => entries.filter(pred).length;
  for (const [family, types] of byType) {
    lines.push(`${family}: ${types.size} image types, ${count((e) => e.family === family)} (distro, type, arch) combinations`);
  }
  lines.push(`total: ${entries.length} (distro, type, arch) combinations over ${order.length} distros`);
  for (const d of order) lines.push(`  ${d}: ${count((e) => e.distro === d)}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

main();
