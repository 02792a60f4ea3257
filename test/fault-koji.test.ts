/**
 * Fault: the Koji hub stand-in answers 20% of all requests (XML-RPC calls and upload chunks)
 * badly: ServerOffline faults, 503s, connection resets, replies slower than Kiln's request
 * timeout, and calls that commit but whose reply is lost. Composes run through a real
 * `kiln serve`; every one must end COMPLETE or correctly FAILED with exactly one Koji build, and
 * no reservation may stay BUILDING.
 */
import test from 'ava';
import type { KilnProcess } from './helpers/kiln.js';
import { startFaultBed, type FaultBed } from './helpers/compose-faults.js';

const SEED = Number(process.env.KILN_FAULT_SEED ?? 20261123);
const COMPOSES = 10;

let bed: FaultBed;
let api: KilnProcess | undefined;

test.after.always(async () => {
  bed?.hub.setFaults(null);
  await api?.stop('SIGKILL');
  await bed?.close();
});

test(`${COMPOSES} composes with 20% of hub requests faulted, timed out, reset or their replies lost`, async (t) => {
  bed = await startFaultBed('koji-faults');
  let apiUrl: string;
  ({ process: api, url: apiUrl } = await bed.serve('api', {
    KILN_LOG_LEVEL: 'warn',
    // 'slow' replies take 1.5 s: past this timeout, so the client gives up on them and retries
    KILN_KOJI_REQUEST_TIMEOUT_SECONDS: '1',
    KILN_KOJI_RETRY_ATTEMPTS: '8',
  }));
  bed.hub.setFaults({ rate: 0.2, seed: SEED, kinds: ['fault', 'http503', 'reset', 'slow', 'drop-reply'], slowMs: 1500 });
  const ids = await bed.submit(apiUrl, COMPOSES);
  await bed.waitForEnd(ids, 300_000);
  const injector = bed.hub.hub.faultStats;
  bed.hub.setFaults(null);
  const check = await bed.check(ids);
  const calls = bed.hub.hub.calls.length;
  t.log(`seed ${SEED}: ${injector.injected} of ${calls} hub requests faulted ${JSON.stringify(injector.byKind)}`);
  t.log(`${ids.length} composes: ${check.complete} COMPLETE, ${check.failed} FAILED, ${check.canceled} CANCELED`);
  if (check.problems.length) {
    // what the service logged about the composes that went wrong
    const bad = ids.filter((id) => check.problems.some((p) => p.startsWith(id)));
    const lines = api.output().split('\n').filter((l) => bad.some((id) => l.includes(id)) || /"level":50/.test(l));
    t.log(lines.slice(-40).join('\n'));
  }
  t.deepEqual(check.problems, []);
  t.true(injector.injected >= calls * 0.1, 'faults were injected');
  // every fault is one a correct client recovers from within its retries
  t.is(check.complete, ids.length);
});
