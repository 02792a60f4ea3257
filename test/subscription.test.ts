/**
 * composer's customizations.subscription as a build option: osbuild/images' first-boot
 * registration (unit, environment file, packages, insights-client proxy, rhsm with-subscription
 * config), the combinations Kiln refuses, and the activation key kept out of Kiln's logs.
 */
import test from 'ava';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { InvalidInputError } from '../src/errors.js';
import { createLogger } from '../src/log.js';
import { generateManifest, imageCatalog, packageRequests, packagesFromDepsolve, resolveImage, runOsbuild, type Manifest, type ManifestStage, type ResolvedImage } from '../src/osbuild/index.js';
import { subscriptionPlan, type Subscription } from '../src/osbuild/stages/subscription.js';
import { depsolveJob, type DepsolveJobResult } from '../src/jobs/depsolve.js';
import { loadConfig } from '../src/config/index.js';
import { syntheticDepsolve } from './osbuild-standin/synthetic.js';
import { validateManifest } from './osbuild-standin/validate.js';

const STANDIN = fileURLToPath(new URL('./osbuild-standin/osbuild.mjs', import.meta.url));
const ZERO_SOLVER = fileURLToPath(new URL('../bench/fixtures/zero-depsolve.mjs', import.meta.url));
const KEY = 'kiln-activation-key-3f9a7c';
const BASE: Subscription = { organization: '2040324', activation_key: KEY, server_url: 'subscription.rhsm.redhat.com', base_url: 'http://cdn.redhat.com/', insights: true };

function build(image: ResolvedImage, subscription?: object, blueprint = {}): Manifest {
  const input = { image, seed: '9', blueprint, ...(subscription ? { options: { subscription: subscription as unknown as Subscription } } : {}) };
  return generateManifest({ ...input, packages: syntheticDepsolve(packageRequests(input), image.arch) });
}
const os_ = (m: Manifest) => m.pipelines.find((p) => p.name === 'os')!.stages;
const types = (m: Manifest) => os_(m).map((s) => s.type);
const find = (m: Manifest, type: string) => os_(m).find((s) => s.type === type);
const unit = (m: Manifest) => os_(m).find((s) => s.type === 'org.osbuild.systemd.unit.create' && s.options?.filename === 'osbuild-subscription-register.service') as ManifestStage;
const execStart = (m: Manifest) => (unit(m).options as any).config.Service.ExecStart as string[];

test('subscription-manager with Insights: the enabled first-boot unit upstream writes, the key file, the packages; osbuild accepts it', (t) => {
  const image = resolveImage('rhel-9.6', 'x86_64', 'qcow2');
  const m = build(image, BASE);
  const res = validateManifest(m);
  t.true(res.success, JSON.stringify(res.errors));
  t.deepEqual(unit(m), {
    type: 'org.osbuild.systemd.unit.create',
    options: {
      filename: 'osbuild-subscription-register.service',
      'unit-type': 'system',
      'unit-path': 'usr',
      config: {
        Unit: {
          Description: 'First-boot service for registering with Red Hat subscription manager and/or insights',
          ConditionPathExists: ['/etc/osbuild-subscription-register.env'],
          Wants: ['network-online.target'],
          After: ['selinux-autorelabel.service', 'network-online.target'],
        },
        Service: {
          Type: 'oneshot',
          ExecStart: [
            "/usr/sbin/subscription-manager config --server.hostname 'subscription.rhsm.redhat.com'",
            '/usr/sbin/subscription-manager register --org="${ORG_ID}" --activationkey="${ACTIVATION_KEY}" --baseurl \'http://cdn.redhat.com/\'',
            '/usr/bin/insights-client --register',
            "/usr/bin/rm '/etc/osbuild-subscription-register.env'",
          ],
          EnvironmentFile: ['/etc/osbuild-subscription-register.env'],
        },
        Install: { WantedBy: ['default.target'] },
      },
    },
  });
  // unit, then the key file, between pwquality and rhsm (upstream's order), enabled before the environment's services
  const at = types(m).indexOf('org.osbuild.systemd.unit.create');
  const copy = os_(m)[at + 1];
  t.is(copy.type, 'org.osbuild.copy');
  const [p] = (copy.options as any).paths;
  t.is(p.to, 'tree:///etc/osbuild-subscription-register.env');
  const id = p.from.split('/').pop();
  t.is(Buffer.from((m.sources['org.osbuild.inline'] as any).items[id].data, 'base64').toString(), `ORG_ID=2040324\nACTIVATION_KEY=${KEY}`);
  t.deepEqual((find(m, 'org.osbuild.systemd')!.options as any).enabled_services, ['osbuild-subscription-register.service']);
  // after the image config's and the blueprint's services, as upstream appends it
  const ami = resolveImage('rhel-9.6', 'x86_64', 'ami');
  const enabled = (find(build(ami, BASE, { customizations: { services: { enabled: ['kiln-extra.service'] } } }), 'org.osbuild.systemd')!.options as any).enabled_services as string[];
  t.deepEqual(enabled, [...ami.imageConfig.enabled_services!, 'kiln-extra.service', 'osbuild-subscription-register.service']);
  const chain = packageRequests({ image, seed: '1', options: { subscription: BASE } }).os;
  t.deepEqual(chain[1].include.filter((n) => /subscription|insights|rhc/.test(n)), ['insights-client', 'subscription-manager']);
  // without a subscription: none of it, and the no-subscription rhsm config as before
  const plain = build(image);
  t.false(types(plain).includes('org.osbuild.systemd.unit.create'));
  t.deepEqual(find(plain, 'org.osbuild.rhsm')?.options, { 'dnf-plugins': { 'product-id': { enabled: false }, 'subscription-manager': { enabled: false } } });
  // with one: the image config's with-subscription rhsm config instead (rhel-9 qcow2 has none, so no stage)
  t.is(find(m, 'org.osbuild.rhsm'), undefined);
  const withSub = structuredClone(image);
  withSub.imageConfig.rhsm_config = { ...withSub.imageConfig.rhsm_config, 'with-subscription': { 'subscription-manager': { rhsmcertd: { auto_registration: true } } } };
  t.deepEqual(find(build(withSub, BASE), 'org.osbuild.rhsm')?.options, { 'subscription-manager': { rhsmcertd: { auto_registration: true } } });
  t.deepEqual(find(build(withSub), 'org.osbuild.rhsm')?.options, { 'dnf-plugins': { 'product-id': { enabled: false }, 'subscription-manager': { enabled: false } } });
  // the blueprint's rhsm still goes on top
  t.deepEqual(find(build(withSub, BASE, { customizations: { rhsm: { config: { subscription_manager: { rhsm: { manage_repos: false } } } } } }), 'org.osbuild.rhsm')?.options, {
    'subscription-manager': { rhsmcertd: { auto_registration: true }, rhsm: { manage_repos: false } },
  });
});

test('rhc with a proxy and a content template: rhc connect, proxy settings, rhcd permissive where the image config says so, insights-client.config after sshd', (t) => {
  const sub = { ...BASE, rhc: true, insights_client_proxy: 'HTTPS://proxy.example:3128', template_name: "tmpl 'x'" };
  const rhel = build(resolveImage('rhel-9.6', 'x86_64', 'qcow2'), sub);
  t.true(validateManifest(rhel).success, JSON.stringify(validateManifest(rhel).errors));
  t.deepEqual(execStart(rhel), [
    "/usr/sbin/subscription-manager config --server.hostname 'subscription.rhsm.redhat.com'",
    "/usr/sbin/subscription-manager config --server.proxy_scheme 'https'",
    "/usr/sbin/subscription-manager config --server.proxy_hostname 'proxy.example'",
    "/usr/sbin/subscription-manager config --server.proxy_port '3128'",
    `/usr/bin/rhc connect --organization="\${ORG_ID}" --activation-key="\${ACTIVATION_KEY}" --content-template='tmpl '"'"'x'"'"''`,
    '/usr/sbin/semanage permissive --add rhcd_t',
    "/usr/bin/rm '/etc/osbuild-subscription-register.env'",
  ]);
  t.deepEqual(find(rhel, 'org.osbuild.insights-client.config')?.options, { config: { proxy: 'HTTPS://proxy.example:3128' } });
  const ts = types(rhel);
  t.true(ts.indexOf('org.osbuild.insights-client.config') < ts.indexOf('org.osbuild.systemd.unit.create'));
  t.deepEqual(packageRequests({ image: resolveImage('rhel-9.6', 'x86_64', 'qcow2'), seed: '1', options: { subscription: sub } }).os[1].include.filter((n) => /subscription|insights|rhc/.test(n)), ['insights-client', 'rhc', 'rhc-worker-playbook', 'subscription-manager']);
  // Fedora's image config does not make rhcd permissive; no server_url: no hostname line; a proxy without port or scheme
  const fedora = build(resolveImage('fedora-43', 'x86_64', 'qcow2'), { ...BASE, server_url: '', rhc: true, insights_client_proxy: 'proxy.example' });
  t.deepEqual(execStart(fedora), [
    "/usr/sbin/subscription-manager config --server.proxy_scheme 'http'",
    "/usr/sbin/subscription-manager config --server.proxy_hostname 'proxy.example'",
    `/usr/bin/rhc connect --organization="\${ORG_ID}" --activation-key="\${ACTIVATION_KEY}"`,
    "/usr/bin/rm '/etc/osbuild-subscription-register.env'",
  ]);
  // subscription-manager without Insights: no insights-client at all
  const noInsights = build(resolveImage('centos-9', 'x86_64', 'qcow2'), { ...BASE, insights: false });
  t.false(execStart(noInsights).some((c) => c.includes('insights-client')));
  t.deepEqual(packageRequests({ image: resolveImage('centos-9', 'x86_64', 'qcow2'), seed: '1', options: { subscription: { ...BASE, insights: false } } }).os[1].include.filter((n) => /subscription|insights|rhc/.test(n)), ['subscription-manager']);
});

test('ostree trees: insights-client also runs on every boot (upstream\'s drop-in)', (t) => {
  const plan = subscriptionPlan({ ...BASE, rhc: true }, { ostree: true, permissiveRhc: false });
  t.deepEqual(plan.directories, [{ path: '/etc/systemd/system/insights-client-boot.service.d', ensure_parents: true }]);
  t.is(plan.files[1].path, '/etc/systemd/system/insights-client-boot.service.d/override.conf');
  t.regex(plan.files[1].data!, /^\[Unit\]\nRequisite=greenboot-healthcheck\.service\n/);
  t.deepEqual(subscriptionPlan({ ...BASE, insights: false }, { ostree: true, permissiveRhc: false }).directories, []);
  t.deepEqual(subscriptionPlan(BASE, { ostree: false, permissiveRhc: false }).files.map((f) => f.path), ['/etc/osbuild-subscription-register.env']);
});

test('refused, naming the request field: missing or unknown fields, template_uuid, template_name without rhc, a bad proxy; the key is never in the message', (t) => {
  const image = resolveImage('rhel-9.6', 'x86_64', 'qcow2');
  const refused = (sub: object, message: RegExp) => {
    const err = t.throws(() => packageRequests({ image, seed: '1', options: { subscription: sub as never } }), { instanceOf: InvalidInputError });
    t.regex(err!.message, message);
    t.false(err!.message.includes(KEY));
    t.false(JSON.stringify(err!.details).includes(KEY));
  };
  const { activation_key: _, ...noKey } = BASE;
  refused(noKey, /^customizations\.subscription\.activation_key: is required/);
  refused({ ...BASE, activation_key: 7 }, /^customizations\.subscription\.activation_key: must be string/);
  refused({ ...BASE, extra: 1 }, /^customizations\.subscription\.extra: is not an allowed field/);
  refused({ ...BASE, rhc: true, template_uuid: '0b6f2a4e-1a1e-4a63-9a52-3e5a8d6b1c11' }, /^customizations\.subscription\.template_uuid: is not supported: .*content-sources service URL/);
  refused({ ...BASE, template_name: 't' }, /^customizations\.subscription\.template_name: is used only when registering with rhc/);
  refused({ ...BASE, insights_client_proxy: 'http://[bad' }, /^customizations\.subscription\.insights_client_proxy: is not a valid proxy URL/);
});

test('the activation key is never in Kiln\'s logs: a depsolve job and an osbuild run of a subscribed image log without it', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kiln-subscription-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let lines = '';
  const log = createLogger({ level: 'trace', stream: new Writable({ write: (chunk, _e, done) => ((lines += chunk), done()) }) });
  const options = { subscription: { ...BASE, rhc: true } };
  // whatever logs a job's arguments or options is redacted
  log.info({ args: { options } }, 'job arguments');
  log.info({ options }, 'options');
  t.false(lines.includes(KEY));
  t.regex(lines, /\[redacted\]/);

  const config = loadConfig({ env: {}, overrides: { state_dir: dir, depsolve: { solver: ZERO_SOLVER, timeout_seconds: 60 } } });
  const services = { config, log, depsolveCacheDir: path.join(dir, 'cache') } as never;
  const args = { compose_id: 'c', image_build_id: 'i', distribution: 'rhel-9.6', arch: 'x86_64', image_type: 'qcow2', options, seed: '5', definitions: imageCatalog().fingerprint, repositories: [{ baseurl: 'http://127.0.0.1:9/repo' }] };
  const result = (await depsolveJob.create(services)({ job: { args } as never, signal: new AbortController().signal, log, progress: async () => undefined, checkpoint: async () => undefined })) as DepsolveJobResult;
  const image = resolveImage('rhel-9.6', 'x86_64', 'qcow2');
  const manifest = generateManifest({ image, seed: '5', options, packages: packagesFromDepsolve(result.package_sets) });
  // the key is in the image, as upstream puts it there: base64 in the manifest's inline source
  t.true(JSON.stringify(manifest).includes(Buffer.from(`ORG_ID=2040324\nACTIVATION_KEY=${KEY}`).toString('base64')));
  const run = await runOsbuild({ manifest, exportPipeline: image.exportPipeline, exportFilename: image.filename, outputDir: path.join(dir, 'out'), storeDir: path.join(dir, 'store'), osbuildPath: STANDIN, logger: log, timeoutMs: 120_000 });
  t.true(run.success, JSON.stringify(run.errors));
  t.regex(lines, /package set resolved/);
  t.false(lines.includes(KEY), 'Kiln log');
  t.false(readFileSync(run.logPath, 'utf8').includes(KEY), 'osbuild log');
  t.true(readdirSync(path.join(dir, 'out')).length > 0);
});
