import test from 'ava';
import { readFileSync, existsSync } from 'node:fs';
import { generate } from '../scripts/gen-types.js';

test('src/generated is up to date with schemas/ (run `npm run gen:types`)', async (t) => {
  for (const [file, text] of await generate()) {
    t.true(existsSync(file), `${file} is missing`);
    t.is(readFileSync(file, 'utf8'), text, `${file} is stale`);
  }
});
