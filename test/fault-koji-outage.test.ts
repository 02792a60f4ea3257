/**
 * Fault: the Koji hub answers nothing but ServerOffline for 12 s while composes reserve, upload
 * and import. Kiln's calls give up after two tries (about a second), so the outage is outlasted
 * by the jobs themselves (koji.outage_wait_seconds): every compose must end COMPLETE with one
 * Koji build, and nothing may stay BUILDING.
 */
import test from 'ava';
import { runKiln, type KilnProcess } from './helpers/kiln.js';
import { freePort } from './helpers/net.js';
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
  const port = await freePort();
  const apiUrl = `http://127.0.0.1:${port}`;
  api = runKiln(
    ['serve'],
    bed.env('api', {
      KILN_LISTEN_ADDRESS: '127.0.0.1',
      KILN_LISTEN_PORT: String(port),
      KILN_LOG_LEVEL: 'warn',
      KILN_KOJI_RETRY_ATTEMPTS: '2',
      KILN_KOJI_OUTAGE_WAIT_SECONDS: '300',
    }),
  );
  await until('kiln serve to be ready', async () => ((await fetch(`${apiUrl}/ready`).then((r) => r.ok, () => false)) ? true : undefined));
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
