/**
 * Registering the image on first boot (composer's customizations.subscription, a build option):
 * osbuild/images' subscriptionService. A one-shot unit, enabled, runs subscription-manager (or
 * rhc) with the organization and activation key from an environment file, which it removes
 * once done. The key is in the image until first boot, as upstream has it; Kiln never logs it.
 */
import { InvalidInputError } from '../../errors.js';
import type { FileNode } from '../../generated/image-definitions.schema.js';
import type { Subscription } from '../../generated/subscription.schema.js';
import { validate } from '../../schemas.js';
import { stage, type Stage } from './stage.js';

export type { Subscription } from '../../generated/subscription.schema.js';

const FIELD = 'customizations.subscription';
export const SUBSCRIPTION_ENV_FILE = '/etc/osbuild-subscription-register.env';
export const SUBSCRIPTION_SERVICE = 'osbuild-subscription-register.service';
const INSIGHTS_DROPIN = '/etc/systemd/system/insights-client-boot.service.d/override.conf';
const INSIGHTS_DROPIN_TEXT = `[Unit]
Requisite=greenboot-healthcheck.service
After=network-online.target greenboot-healthcheck.service osbuild-first-boot.service osbuild-subscription-register.service
ConditionPathExists=
[Service]
ExecStartPre=
[Install]
WantedBy=multi-user.target
`;

/** What the OS tree gets for a subscription. */
export interface SubscriptionPlan {
  /** OS packages (in the configuration transaction). */
  packages: string[];
  /** org.osbuild.insights-client.config options, when a proxy is given. */
  insightsConfig?: Record<string, unknown>;
  unit: Stage;
  directories: FileNode[];
  files: FileNode[];
  services: string[];
}

/** Python's shlex.quote as osbuild/images writes it: always single quotes. */
const quote = (s: string) => `'${s.replaceAll("'", `'"'"'`)}'`;

/** host:port or scheme://host:port (http assumed) → its parts as Go's url.Parse gives them (case and port kept). */
function proxyParts(proxy: string): { scheme: string; hostname: string; port: string } {
  const text = proxy.includes('://') ? proxy : `http://${proxy}`;
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(?:[^@/?#]*@)?(\[[^\]]*\]|[^:/?#]*)(?::(\d*))?(?:[/?#].*)?$/.exec(text);
  if (!m || !URL.canParse(text)) throw new InvalidInputError(`${FIELD}.insights_client_proxy`, 'is not a valid proxy URL (scheme://host:port or host:port)');
  return { scheme: m[1].toLowerCase(), hostname: m[2].replace(/^\[(.*)\]$/, '$1'), port: m[3] ?? '' };
}

/** The subscription option checked (schema and the combinations Kiln cannot carry out); errors name the request field. */
export function checkSubscription(value: unknown): Subscription {
  const sub = validate<Subscription>('subscription.schema', structuredClone(value), FIELD);
  if (sub.template_uuid) {
    // upstream PATCHes <content-sources URL>/templates/<uuid>/subscribed-systems on first boot, a URL of
    // image-builder's service configuration that a Koji build has no equivalent of
    throw new InvalidInputError(`${FIELD}.template_uuid`, 'is not supported: registering to a content template by UUID needs the content-sources service URL, which Kiln has none of; with rhc, give template_name');
  }
  if (sub.template_name && !sub.rhc) throw new InvalidInputError(`${FIELD}.template_name`, 'is used only when registering with rhc (set rhc to true)');
  if (sub.insights_client_proxy) proxyParts(sub.insights_client_proxy);
  return sub;
}

/**
 * The unit, files and packages for `sub` (already checked). `ostree`: insights-client also runs
 * on every boot (a drop-in), as upstream does for ostree trees; `permissiveRhc` (image config):
 * rhcd runs permissive, since rhc's own post-install step cannot tell SELinux is on in the build root.
 */
export function subscriptionPlan(sub: Subscription, opts: { ostree: boolean; permissiveRhc: boolean }): SubscriptionPlan {
  const commands: string[] = [];
  const directories: FileNode[] = [];
  const files: FileNode[] = [{ path: SUBSCRIPTION_ENV_FILE, data: `ORG_ID=${sub.organization}\nACTIVATION_KEY=${sub.activation_key}` } as FileNode];
  if (sub.server_url) commands.push(`/usr/sbin/subscription-manager config --server.hostname ${quote(sub.server_url)}`);
  if (sub.insights_client_proxy) {
    const { scheme, hostname, port } = proxyParts(sub.insights_client_proxy);
    commands.push(`/usr/sbin/subscription-manager config --server.proxy_scheme ${quote(scheme)}`);
    commands.push(`/usr/sbin/subscription-manager config --server.proxy_hostname ${quote(hostname)}`);
    if (port) commands.push(`/usr/sbin/subscription-manager config --server.proxy_port ${quote(port)}`);
  }
  const insightsOnBoot = () => {
    if (!opts.ostree) return;
    directories.push({ path: INSIGHTS_DROPIN.slice(0, INSIGHTS_DROPIN.lastIndexOf('/')), ensure_parents: true } as FileNode);
    files.push({ path: INSIGHTS_DROPIN, data: INSIGHTS_DROPIN_TEXT } as FileNode);
  };
  if (sub.rhc) {
    commands.push(`/usr/bin/rhc connect --organization="\${ORG_ID}" --activation-key="\${ACTIVATION_KEY}"${sub.template_name ? ` --content-template=${quote(sub.template_name)}` : ''}`);
    if (opts.permissiveRhc) commands.push('/usr/sbin/semanage permissive --add rhcd_t');
    insightsOnBoot();
  } else {
    commands.push(`/usr/sbin/subscription-manager register --org="\${ORG_ID}" --activationkey="\${ACTIVATION_KEY}" --baseurl ${quote(sub.base_url)}`);
    if (sub.insights) {
      commands.push('/usr/bin/insights-client --register');
      insightsOnBoot();
    }
  }
  commands.push(`/usr/bin/rm ${quote(SUBSCRIPTION_ENV_FILE)}`);
  const unit = stage('org.osbuild.systemd.unit.create', {
    filename: SUBSCRIPTION_SERVICE,
    'unit-type': 'system',
    'unit-path': 'usr',
    config: {
      Unit: {
        Description: 'First-boot service for registering with Red Hat subscription manager and/or insights',
        ConditionPathExists: [SUBSCRIPTION_ENV_FILE],
        Wants: ['network-online.target'],
        // the selinux-autorelabel reboot killed rhc mid-registration upstream
        After: ['selinux-autorelabel.service', 'network-online.target'],
      },
      Service: { Type: 'oneshot', ExecStart: commands, EnvironmentFile: [SUBSCRIPTION_ENV_FILE] },
      Install: { WantedBy: ['default.target'] },
    },
  });
  return {
    packages: ['subscription-manager', ...(sub.rhc ? ['rhc', 'insights-client', 'rhc-worker-playbook'] : sub.insights ? ['insights-client'] : [])],
    ...(sub.insights_client_proxy ? { insightsConfig: { config: { proxy: sub.insights_client_proxy } } } : {}),
    unit,
    directories,
    files,
    services: [SUBSCRIPTION_SERVICE],
  };
}
