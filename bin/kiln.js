#!/usr/bin/env node
// The compiled CLI (npm ci runs `prepare`, which builds dist/).
import { main } from '../dist/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => { if (typeof code === 'number') process.exitCode = code; },
  (err) => {
    process.stderr.write(`kiln: ${err && err.message ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
