/**
 * Every valid osbuild-composer compose request shape, derived from composer's own OpenAPI
 * document (shared/reference/upstream/composer-cloudapi-openapi.v2.yml, found beside the checkout;
 * never copied here), as the research notes' recipe (customizations.md §7.5) lays out:
 *
 * - one shape per optional property of every schema reachable from the request's
 *   `customizations` (Customizations) and `blueprint` (Blueprint, BlueprintCustomizations), nested
 *   ones inside the minimal valid parent, with its own required children filled in;
 * - one per further enum value and per further oneOf/anyOf branch (the first ones are in the
 *   property shapes), plus a plain partition without `type`;
 * - one per image type of composer's ImageTypes, and the image request's own shapes (ostree,
 *   size, repositories, upload options and targets, image_request vs image_requests).
 *
 * Values are what a release engineer would send: the document's `example` where it is a valid
 * one, else a sample below (the document's examples include an unparseable certificate and a
 * distro other than the compose's), always completed to what osbuild/images accepts where the
 * schema cannot say it (one DIUN key for FDO, a mount point and size for a partition, a gpg key
 * with check_gpg, an allow-listed OpenSCAP profile). Every shape is checked to be valid against
 * composer's document by the caller.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';

type Json = Record<string, any>;

export interface Shape {
  /** What it sets, e.g. `customizations.fdo.diun_pub_key_hash`, `…fs_type=swap`, `image_type=aws`. */
  name: string;
  kind: 'property' | 'enum' | 'branch' | 'image-type' | 'request';
  /** The request field it sets (with [0] for the array element it adds). */
  path: string;
  /** A top-level property of Customizations, Blueprint or BlueprintCustomizations, or an image type. */
  top: boolean;
  customizations?: Json;
  blueprint?: Json;
  /** Merged into the image request. */
  imageRequest?: Json;
  /** A second image request after the first. */
  extraImageRequest?: Json;
  imageType?: string;
  /** Use image_requests instead of image_request. */
  imageRequests?: boolean;
}

/** A self-signed certificate from openssl (a customization must carry a real one). */
export async function testCertificate(): Promise<string> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kiln-cert-'));
  try {
    const { stdout } = await promisify(execFile)(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-subj', '/CN=kiln-test-ca', '-days', '2', '-out', '-'],
      { timeout: 30_000 },
    );
    return stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface ShapeContext {
  /** The compose's distribution (a blueprint's `distro` must be it). */
  distribution: string;
  certificate: string;
  /** An OpenSCAP profile the distro allows. */
  openscapProfile: string;
}

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINrGKErMYi+MMUwuHaRAJmRLoIzRf2qD2dD5z0BTx/6x user@example.com';
const UUID = '2c5c3f7c-1b49-4a7e-9d62-7d4d8c1f0a11';
const REPO = 'https://repos.example.test/rhel/x86_64/';
const GPG_URL = 'https://repos.example.test/RPM-GPG-KEY-example';

/** Values where the document's example is missing or not one a build can take (component.property). */
function samples(ctx: ShapeContext): Json {
  return {
    'Blueprint.name': 'kiln-shapes',
    'Blueprint.description': 'every shape',
    'Blueprint.distro': ctx.distribution,
    'Repository.baseurl': REPO,
    'Repository.mirrorlist': 'https://mirrors.example.test/mirrorlist?repo=baseos',
    'Repository.metalink': 'https://mirrors.example.test/metalink?repo=baseos',
    'Repository.gpgkey': GPG_URL,
    'Repository.package_sets': ['build', 'os'],
    'CustomRepository.id': 'custom',
    'CustomRepository.name': 'Custom',
    'CustomRepository.filename': 'custom.repo',
    'CustomRepository.baseurl': [REPO],
    'CustomRepository.gpgkey': [GPG_URL],
    'CustomRepository.priority': 10,
    'BlueprintRepository.id': 'custom',
    'BlueprintRepository.name': 'Custom',
    'BlueprintRepository.filename': 'custom.repo',
    'BlueprintRepository.baseurls': [REPO],
    'BlueprintRepository.gpgkeys': [GPG_URL],
    'BlueprintRepository.priority': 10,
    'CACertsCustomization.pem_certs': [ctx.certificate],
    'OpenSCAP.profile_id': ctx.openscapProfile,
    'OpenSCAP.policy_id': UUID,
    'BlueprintOpenSCAP.profile_id': ctx.openscapProfile,
    'BlueprintOpenSCAP.policy_id': UUID,
    'BlueprintOpenSCAP.datastream': '/usr/share/xml/scap/ssg/content/ssg-rhel9-ds.xml',
    'OpenSCAPTailoring.selected': ['xccdf_org.ssgproject.content_rule_package_telnet_removed'],
    'OpenSCAPTailoring.unselected': ['xccdf_org.ssgproject.content_rule_grub2_password'],
    'OpenSCAPJSONTailoring.profile_id': `${ctx.openscapProfile}_tailored`,
    'OpenSCAPJSONTailoring.filepath': '/etc/kiln/tailoring.json',
    'ImportKeys.files': ['/etc/pki/rpm-gpg/RPM-GPG-KEY-redhat-release'],
    'User.name': 'alice',
    'User.groups': ['wheel'],
    'User.key': KEY,
    'User.password': 'correct horse battery staple',
    'BlueprintUser.name': 'alice',
    'BlueprintUser.description': 'Alice',
    'BlueprintUser.password': 'correct horse battery staple',
    'BlueprintUser.key': KEY,
    'BlueprintUser.home': '/home/alice',
    'BlueprintUser.shell': '/bin/bash',
    'BlueprintUser.groups': ['wheel'],
    'BlueprintUser.uid': 1001,
    'BlueprintUser.gid': 1001,
    'Group.name': 'developers',
    'Group.gid': 2001,
    'Container.name': 'embedded',
    'Timezone.timezone': 'Europe/Prague',
    'Timezone.ntpservers': ['0.pool.ntp.org'],
    'FirewallZones.name': 'trusted',
    'FirewallZones.sources': ['192.0.2.0/24'],
    'Directory.path': '/etc/kiln-shapes',
    'Directory.mode': '0755',
    'File.path': '/etc/kiln-shapes.d/app.conf',
    'File.data': 'key=value\n',
    'BlueprintFile.path': '/etc/kiln-shapes.conf',
    'BlueprintFile.data': 'key=value\n',
    'Filesystem.mountpoint': '/var',
    'BlueprintFilesystem.mountpoint': '/var',
    'Subscription.server_url': 'https://subscription.rhsm.redhat.com',
    'Subscription.base_url': 'https://cdn.redhat.com/',
    'Subscription.insights_client_proxy': 'http://proxy.example.test:3128',
    'Subscription.template_uuid': UUID,
    'Subscription.template_name': 'rhel-9-template',
    'FDO.manufacturing_server_url': 'http://fdo.example.test:8080',
    'FDO.diun_pub_key_insecure': 'true',
    'FDO.diun_pub_key_hash': 'sha256:3b5d5c3712955042212316173ccf37be800a1f1d8a57e8e1b9e4ebd0d4b3f6c8',
    'FDO.diun_pub_key_root_certs': ctx.certificate,
    'FDO.di_mfg_string_type_mac_iface': 'enp1s0',
    'IgnitionEmbedded.config': Buffer.from('{"ignition":{"version":"3.4.0"}}').toString('base64'),
    'IgnitionFirstboot.url': 'http://ignition.example.test/config.ign',
    'Installer.sudo-nopasswd': ['alice'],
    'Disk.minsize': '20 GiB',
    'FilesystemTyped.part_type': '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
    'FilesystemTyped.minsize': '2 GiB',
    'FilesystemTyped.mountpoint': '/data',
    'FilesystemTyped.label': 'data',
    'BtrfsVolume.part_type': '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
    'BtrfsVolume.minsize': '4 GiB',
    'BtrfsSubvolume.name': 'data',
    'BtrfsSubvolume.mountpoint': '/data',
    'VolumeGroup.part_type': 'E6D6D379-F507-44C2-A23C-238F2A3DF928',
    'VolumeGroup.name': 'datavg',
    'VolumeGroup.minsize': '4 GiB',
    'LogicalVolume.name': 'datalv',
    'LogicalVolume.minsize': '2 GiB',
    'LogicalVolume.mountpoint': '/data',
    'LogicalVolume.label': 'data',
    'OSTree.url': 'http://ostree.example.test/repo',
    'OSTree.contenturl': 'http://ostree.example.test/content',
    'OSTree.ref': 'rhel/9/x86_64/edge',
    'OSTree.parent': 'rhel/9/x86_64/edge',
    'AWSS3UploadOptions.region': 'us-east-1',
  };
}

/** What osbuild/images needs of an object beyond the schema, for the property being set (`prop`). */
function complete(component: string | undefined, obj: Json, prop: string | undefined, ctx: ShapeContext): Json {
  const s = samples(ctx);
  const out = { ...obj };
  const fill = (key: string) => (out[key] ??= s[`${component}.${key}`]);
  switch (component) {
    case 'FDO': {
      fill('manufacturing_server_url');
      const keys = ['diun_pub_key_insecure', 'diun_pub_key_hash', 'diun_pub_key_root_certs'];
      // exactly one DIUN key: the one being set, or the hash
      for (const k of keys) if (k !== (keys.includes(prop ?? '') ? prop : 'diun_pub_key_hash')) delete out[k];
      if (!keys.includes(prop ?? '')) fill('diun_pub_key_hash');
      break;
    }
    case 'FilesystemTyped':
    case 'LogicalVolume':
      fill('minsize');
      if (component === 'FilesystemTyped') out.type ??= 'plain';
      out.fs_type ??= 'xfs';
      if (out.fs_type === 'swap') delete out.mountpoint;
      else fill('mountpoint');
      break;
    case 'BtrfsVolume':
    case 'VolumeGroup':
      fill('minsize');
      break;
    case 'FirewallZones':
      fill('name');
      break;
    case 'Repository':
      if (prop === 'mirrorlist' || prop === 'metalink') delete out.baseurl;
      else fill('baseurl');
      if (out.check_gpg) fill('gpgkey');
      break;
    case 'CustomRepository':
      fill('baseurl');
      if (out.check_gpg) fill('gpgkey');
      break;
    case 'BlueprintRepository':
      fill('baseurls');
      if (out.gpgcheck) fill('gpgkeys');
      break;
  }
  return out;
}

const componentOf = (ref: string) => ref.replace('#/components/schemas/', '');

export class ShapeGenerator {
  readonly #schemas: Json;
  readonly #ctx: ShapeContext;
  readonly #samples: Json;

  constructor(specFile: string, ctx: ShapeContext) {
    this.#schemas = (parseYaml(readFileSync(specFile, 'utf8')) as Json).components.schemas;
    this.#ctx = ctx;
    this.#samples = samples(ctx);
  }

  /** The component a node names (by $ref), and the node itself. */
  #deref(node: Json, component?: string): { schema: Json; component?: string } {
    let schema = node;
    let name = component;
    while (schema.$ref) {
      name = componentOf(schema.$ref);
      schema = this.#schemas[name];
    }
    return { schema, component: name };
  }

  /** The value of `prop` of `component` as a release engineer would give it. */
  #valueOf(component: string | undefined, prop: string, node: Json): unknown {
    const key = `${component}.${prop}`;
    if (key in this.#samples) return structuredClone(this.#samples[key]);
    const { schema } = this.#deref(node);
    const example = node.example ?? schema.example;
    if (example !== undefined && typeof example !== 'object' && !schema.enum) return example;
    if (Array.isArray(example) && example.every((e) => typeof e === 'string')) return example;
    return this.minimal(node);
  }

  /** The smallest valid value of a node (objects: their required properties, completed); `name`: the component it is, when already resolved. */
  minimal(node: Json, name?: string): unknown {
    const { schema, component } = this.#deref(node, name);
    if (schema.enum) return schema.enum[0];
    const branches = schema.oneOf ?? schema.anyOf;
    if (branches) return this.minimal(branches[0]);
    if (schema.type === 'array') return [this.minimal(schema.items)];
    if (schema.type === 'object' || schema.properties) {
      const obj: Json = {};
      for (const r of schema.required ?? []) obj[r] = this.#valueOf(component, r, schema.properties[r]);
      return complete(component, obj, undefined, this.#ctx);
    }
    if (schema.type === 'boolean') return true;
    if (schema.type === 'integer' || schema['x-go-type']) return schema.example ?? 0;
    if (schema.format === 'uri') return 'https://example.test/';
    if (schema.format === 'uuid') return UUID;
    return 'value';
  }

  /**
   * The shapes inside one value slot (not the slot itself): further enum values, further
   * branches (and a plain partition without type), and the shapes of an object or array item.
   */
  *#slot(node: Json, at: string, label: string): Generator<{ name: string; kind: Shape['kind']; path: string; value: unknown }> {
    const { schema, component } = this.#deref(node);
    if (schema.enum) {
      for (const v of schema.enum.slice(1)) yield { name: `${label}=${v}`, kind: 'enum', path: at, value: v };
      return;
    }
    const branches: Json[] | undefined = schema.oneOf ?? schema.anyOf;
    if (branches) {
      for (const [i, b] of branches.entries()) {
        const { schema: bs, component: bc } = this.#deref(b);
        const bl = `${label}<${bc ?? bs.type}>`;
        if (i > 0) yield { name: bl, kind: 'branch', path: at, value: this.minimal(b) };
        if (bc === 'FilesystemTyped') {
          const { type: _, ...untyped } = this.minimal(b) as Json;
          yield { name: `${bl} without type`, kind: 'branch', path: at, value: untyped };
        }
        yield* this.#slot(b, at, bl);
      }
      return;
    }
    if (schema.type === 'array') {
      for (const s of this.#slot(schema.items, `${at}[0]`, `${label}[0]`)) yield { ...s, value: [s.value] };
      return;
    }
    if (schema.type === 'object' || schema.properties) yield* this.#object(schema, component, at, label);
  }

  /** An object's shapes: each optional property set, and the shapes inside every property. */
  *#object(schema: Json, component: string | undefined, at: string, label: string): Generator<{ name: string; kind: Shape['kind']; path: string; value: unknown }> {
    const base = this.minimal(schema, component) as Json;
    const withProp = (prop: string, value: unknown) => complete(component, { ...base, [prop]: value }, prop, this.#ctx);
    for (const [prop, node] of Object.entries(schema.properties ?? {}) as [string, Json][]) {
      const p = `${at}.${prop}`;
      const l = `${label}.${prop}`;
      if (!(schema.required ?? []).includes(prop)) yield { name: l, kind: 'property', path: p, value: withProp(prop, this.#valueOf(component, prop, node)) };
      for (const s of this.#slot(node, p, l)) yield { ...s, value: withProp(prop, s.value) };
    }
  }

  /** Every shape of the request's customizations and blueprint, and the image types and image request's. */
  shapes(): Shape[] {
    const out: Shape[] = [];
    const tops = (name: string) => new Set(Object.keys(this.#schemas[name].properties));
    const customizationsTop = tops('Customizations');
    const blueprintTop = tops('Blueprint');
    const bpCustomizationsTop = tops('BlueprintCustomizations');
    for (const s of this.#object(this.#schemas.Customizations, 'Customizations', 'customizations', 'customizations')) {
      const top = s.kind === 'property' && customizationsTop.has(s.path.slice('customizations.'.length));
      out.push({ name: s.name, kind: s.kind, path: s.path, top, customizations: s.value as Json });
    }
    for (const s of this.#object(this.#schemas.Blueprint, 'Blueprint', 'blueprint', 'blueprint')) {
      const rest = s.path.slice('blueprint.'.length);
      const top = s.kind === 'property' && (blueprintTop.has(rest) || (rest.startsWith('customizations.') && bpCustomizationsTop.has(rest.slice('customizations.'.length))));
      out.push({ name: s.name, kind: s.kind, path: s.path, top, blueprint: s.value as Json });
    }
    for (const imageType of this.#schemas.ImageTypes.enum as string[]) {
      out.push({ name: `image_type=${imageType}`, kind: 'image-type', path: 'image_request.image_type', top: true, imageType });
    }
    // the image request's own shapes (its image type is the caller's)
    for (const s of this.#object(this.#schemas.ImageRequest, 'ImageRequest', 'image_request', 'image_request')) {
      if (s.path === 'image_request.image_type' || s.path === 'image_request.architecture') continue;
      const { image_type: _t, architecture: _a, ...patch } = s.value as Json;
      out.push({ name: s.name, kind: 'request', path: s.path, top: false, imageRequest: patch });
    }
    out.push({ name: 'image_requests (one)', kind: 'request', path: 'image_requests', top: false, imageRequests: true });
    out.push({ name: 'image_requests (two)', kind: 'request', path: 'image_requests', top: false, imageRequests: true, extraImageRequest: {} });
    return out;
  }
}
