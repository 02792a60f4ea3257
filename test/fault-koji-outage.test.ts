/**
 * Fault: the Koji hub answers nothing but ServerOffline for 12 s while composes reserve, upload
 * and import. Kiln's calls give up after two tries (about a second), so the outage is outlasted
 * by the jobs themselves (koji.outage_wait_seconds): every compose must end COMPLETE with one
 * Koji build, and nothing may stay BUILDING.
 */
import test from 'ava';
import type { KilnProcess } from './helpers/kiln.js';
import { startFaultBed, until, type FaultBed } from './helpers/compose-faults.js';

const COMPOSES = 6;
const OUTAGE_MS = 12_000;

let bed: FaultBed;
let api: KilnProcess | undefined;

test.after.always(async () => {
  bed?.hub.setOffline(false);
  await api?.stop('SIGKILL');
  await bed?.close();
});

test(`the hub offline for ${OUTAGE_MS / 1000} s mid-run: ${COMPOSES} composes wait for it and complete`, async (t) => {
  bed = await startFaultBed('koji-outage');
  let apiUrl: string;
  ({ process: api, url: apiUrl } = await bed.serve('api', { KILN_LOG_LEVEL: 'warn', KILN_KOJI_RETRY_ATTEMPTS: '2', KILN_KOJI_OUTAGE_WAIT_SECONDS: '300' }));
  const ids = await bed.submit(apiUrl, COMPOSES);
  // the outage starts once the first image is uploading, with other composes still reserving or building
  await until('the first upload', async () => (bed.hub.hub.uploads.length > 0 ? true : undefined));
  bed.hub.setOffline(true);
  await new Promise((r) => setTimeout(r, OUTAGE_MS));
  bed.hub.setOffline(false);
  await bed.waitForEnd(ids, 300_000);
  const check = await bed.check(ids);
  const waited = api.output().split('\n').filter((l) => l.includes('koji hub unavailable; waiting for it'));
  t.log(`${waited.length} waits for the hub; ${ids.length} composes: ${check.complete} COMPLETE, ${check.failed} FAILED`);
  t.deepEqual(check.problems, []);
  t.true(waited.length > 0, 'jobs met the outage and waited for the hub');
  t.is(check.complete, ids.length);
});
