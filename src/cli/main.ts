/** `kiln <command>`: the entry point behind bin/kiln.js. */
export async function main(argv: string[]): Promise<number> {
  const [command] = argv;
  process.stderr.write(`kiln: unknown command ${command ?? '(none)'}\n`);
  return 2;
}
