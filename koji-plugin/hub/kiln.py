"""Kiln hub plugin for Koji.

Exports the calls with which Koji users start image builds, each making the task Kiln's builder
plugin runs:
- `osbuildImage` (koji-osbuild's call: Pungi's osbuild phase, `koji osbuild-image`), same
  signature and argument schema, plus Kiln's `scratch` and several image types;
- `imageBuilderBuild` (koji-image-builder's call: Pungi's imagebuilder phase, `koji
  image-builder-build`), same signature and argument schema;
- `buildImageOz` (`koji image-build`, Pungi's image_build phase) in place of the hub's own, when
  the admin enables it (`image_build = true`);
- `host.kilnAttachImages`, with which the builder plugin puts the images Kiln built into its
  task's directory (where Koji's own image tasks leave theirs);
and a callback that cancels the Kiln compose of such a task as soon as the task is canceled.
Before a task is queued, Kiln is asked whether it can build it (compose.check), so what it cannot
build fails at the hub with a ParameterError naming the field, not as a failed build later.

Install as /usr/lib/koji-hub-plugins/kiln.py and enable with `Plugins = kiln` in
/etc/koji-hub/hub.conf. Configuration: /etc/koji-hub/plugins/kiln.conf (see koji-plugin/README.md);
the environment variable KILN_HUB_PLUGIN_CONF names another file.
"""

import configparser
import json
import logging
import os
import re
import ssl
import sys
import xmlrpc.client

import koji
import koji.plugin
from koji.context import context

sys.path.insert(0, '/usr/share/koji-hub/')
import kojihub  # noqa: E402  (after the path insert, as Koji's own plugins do)

try:  # python3-jsonschema when installed; a built-in validator for this schema otherwise
    import jsonschema
except ImportError:  # pragma: no cover - exercised by the tests by hiding the module
    jsonschema = None

logger = logging.getLogger('koji.plugin.kiln')

DEFAULT_CONFIG_FILE = '/etc/koji-hub/plugins/kiln.conf'

ARG_NAMES = ['name', 'version', 'distro', 'image_type', 'target', 'arches', 'opts']

# the ostree options of koji-osbuild's and koji-image-builder's schemas (the same in both)
OSTREE_OPTIONS = {
    "title": "OSTree specific options",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "parent": {"type": "string"},
        "ref": {"type": "string"},
        "url": {"type": "string"},
    },
}

# koji-osbuild's OSBUILD_IMAGE_SCHEMA (draft-04), so that every call accepted there is accepted
# here and the same calls are refused; Kiln adds opts.scratch and more than one image type.
OSBUILD_IMAGE_SCHEMA = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "type": "array",
    "minItems": 7,
    "items": [
        {"type": "string", "description": "Name"},
        {"type": "string", "description": "Version"},
        {"type": "string", "description": "Distribution"},
        {"anyOf": [
            {"type": "string", "description": "Image Type"},
            # koji-osbuild takes a one-element list (deprecated); Kiln takes several
            {"type": "array", "description": "Image Types",
             "minItems": 1, "items": {"type": "string"}},
        ]},
        {"type": "string", "description": "Target"},
        {"type": "array", "description": "Architectures", "minItems": 1, "items": {"type": "string"}},
        {"$ref": "#/definitions/options"},
    ],
    "definitions": {
        "ostree": OSTREE_OPTIONS,
        "repo": {
            "title": "Repository options",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "baseurl": {"type": "string"},
                "package_sets": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["baseurl"],
        },
        "AWSEC2UploadOptions": {
            "type": "object",
            "additionalProperties": False,
            "required": ["region", "share_with_accounts"],
            "properties": {
                "region": {"type": "string"},
                "snapshot_name": {"type": "string"},
                "share_with_accounts": {"type": "array", "items": {"type": "string"}},
            },
        },
        "AWSS3UploadOptions": {
            "type": "object",
            "additionalProperties": False,
            "required": ["region"],
            "properties": {"region": {"type": "string"}},
        },
        "AzureUploadOptions": {
            "type": "object",
            "additionalProperties": False,
            "required": ["tenant_id", "subscription_id", "resource_group"],
            "properties": {
                "tenant_id": {"type": "string"},
                "subscription_id": {"type": "string"},
                "resource_group": {"type": "string"},
                "location": {"type": "string"},
                "image_name": {"type": "string"},
            },
        },
        "GCPUploadOptions": {
            "type": "object",
            "additionalProperties": False,
            "required": ["region"],
            "properties": {
                "region": {"type": "string"},
                "bucket": {"type": "string"},
                "image_name": {"type": "string"},
                "share_with_accounts": {"type": "array", "items": {"type": "string"}},
            },
        },
        "ContainerUploadOptions": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string"},
                "tag": {"type": "string"},
            },
        },
        "UploadOptions": {
            "anyOf": [
                {"$ref": "#/definitions/AWSEC2UploadOptions"},
                {"$ref": "#/definitions/AWSS3UploadOptions"},
                {"$ref": "#/definitions/AzureUploadOptions"},
                {"$ref": "#/definitions/GCPUploadOptions"},
                {"$ref": "#/definitions/ContainerUploadOptions"},
            ],
        },
        "options": {
            "title": "Optional arguments",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "repo": {
                    "type": "array",
                    "description": "Repositories",
                    "items": {"anyOf": [{"type": "string"}, {"$ref": "#/definitions/repo"}]},
                },
                "release": {"type": "string", "description": "Release override"},
                "skip_tag": {"type": "boolean", "description": "Omit tagging the result"},
                "scratch": {"type": "boolean", "description": "Scratch build (Kiln)"},
                "customizations": {"type": "object", "additionalProperties": True},
                "ostree": {"$ref": "#/definitions/ostree"},
                "upload_options": {"$ref": "#/definitions/UploadOptions"},
            },
        },
    },
}


IMAGE_BUILDER_ARG_NAMES = ['target', 'arches', 'types', 'name', 'version', 'opts']

# koji-image-builder's IMAGE_BUILDER_BUILD_SCHEMA (draft-04), unchanged.
IMAGE_BUILDER_BUILD_SCHEMA = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "title": "imageBuilderBuild argument schema",
    "type": "array",
    "minItems": 6,
    "items": [
        {"type": "string", "description": "Target"},
        {"type": "array", "description": "Architectures", "items": {"type": "string"}},
        {"type": "array", "description": "Image Types", "minItems": 1, "maxItems": 1, "items": {"type": "string"}},
        {"type": "string", "description": "Name"},
        {"type": "string", "description": "Version"},
        {"type": "object", "$ref": "#/definitions/options"},
    ],
    "definitions": {
        "ostree": OSTREE_OPTIONS,
        "bootc": {
            "title": "bootc specific options",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "ref": {"type": "string"},
                "build-ref": {"type": "string"},
                "installer-payload-ref": {"type": "string"},
                "default-fs": {"type": "string"},
            },
        },
        "options": {
            "title": "Optional arguments",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "scratch": {"type": "boolean", "description": "Scratch Build"},
                "repos": {"type": "array", "description": "Repositories", "items": {"type": "string"}},
                "release": {"type": "string", "description": "Release override"},
                "distro": {"type": "string", "description": "Distribution override"},
                "skip_tag": {"type": "boolean", "description": "Omit tagging the result"},
                "ostree": {"type": "object", "$ref": "#/definitions/ostree", "descriptions": "Additional ostree options"},
                "bootc": {"type": "object", "$ref": "#/definitions/bootc", "descriptions": "Additional bootc options"},
                "blueprint": {"type": "object", "description": "Blueprint"},
                "seed": {"type": "integer", "description": "PRNG seed, can be used to predict filesystem UUIDs"},
                "preview": {"type": "boolean", "description": "Override builds prerelease/preview state."},
                "failable_arches": {"type": "array", "description": "Architectures allowed to fail", "items": {"type": "string"}},
            },
        },
    },
}

# koji image-build's formats → (Kiln image type, the file name suffix ImageFactory gives the
# image, whether it has a disk that --disk-size sizes). The same table is in the builder plugin
# (a test keeps them equal); `[formats]` in the configuration replaces an entry's image type.
OZ_FORMATS = {
    'raw': ('generic-ami', '.raw', True),
    'raw-xz': ('minimal-raw-xz', '.raw.xz', True),
    'qcow2': ('generic-qcow2', '.qcow2', True),
    'vmdk': ('generic-vmdk', '.vmdk', True),
    'vpc': ('generic-vhd', '.vhd', True),
    'vsphere-ova': ('generic-ova', '.vsphere.ova', True),
    'vagrant-libvirt': ('generic-vagrant-libvirt', '.vagrant-libvirt.box', True),
    'vagrant-virtualbox': ('generic-vagrant-virtualbox', '.vagrant-virtualbox.box', True),
    'tar-gz': ('cloud-gce', '.tar.gz', True),
}
# formats koji image-build knows that Kiln has no image type for (yet)
OZ_FORMATS_NOT_BUILT = ('docker', 'qcow', 'vdi', 'rhevm-ova', 'vagrant-vmware-fusion', 'vagrant-hyperv',
                        'liveimg-squashfs')

# the package whose version names a build tag's distribution (what the buildroot's os-release says)
RELEASE_PACKAGES = (('fedora-release', 'fedora'), ('redhat-release', 'rhel'),
                    ('centos-stream-release', 'centos'), ('almalinux-release', 'almalinux'))


def release_distro(package, version):
    """The image-builder distribution name a release package's version stands for."""
    for name, distro in RELEASE_PACKAGES:
        if name == package:
            if distro == 'centos':
                version = version.split('.')[0]
            return '%s-%s' % (distro, version)
    return None


def oz_distro(distro):
    """koji image-build's distro (Fedora-42, RHEL-9.4, CentOS-Stream-9) → image-builder's (fedora-42…)."""
    d = distro.strip().lower()
    if d.startswith('centos-stream-'):
        d = 'centos-' + d[len('centos-stream-'):]
    if d.startswith('centos-'):
        d = d.split('.')[0]
    return d


def oz_formats(formats, overrides=None):
    """[(format, image type, suffix, sized)] for koji image-build's --format list ([] is raw).
    Raises koji.ParameterError naming a format Kiln cannot build."""
    if isinstance(formats, str):
        formats = [f for f in formats.split(',') if f]
    out = []
    for fmt in list(formats or []) or ['raw']:
        if fmt not in OZ_FORMATS:
            if fmt in OZ_FORMATS_NOT_BUILT:
                raise koji.ParameterError('opts.format: %s has no equivalent image type in Kiln (formats Kiln builds: %s)' % (
                    fmt, ', '.join(sorted(OZ_FORMATS))))
            raise koji.ParameterError('opts.format: %r is not a koji image-build format' % (fmt,))
        image_type, suffix, sized = OZ_FORMATS[fmt]
        out.append((fmt, (overrides or {}).get(fmt, image_type), suffix, sized))
    return out


def field_name(path, names=None):
    """['opts', 'repo', 0, 'baseurl'] style path (first element an argument index) → 'opts.repo[0].baseurl'."""
    names = names or ARG_NAMES
    out = ''
    for i, part in enumerate(path):
        if i == 0 and isinstance(part, int):
            out = names[part] if part < len(names) else 'args[%d]' % part
        elif isinstance(part, int):
            out += '[%d]' % part
        else:
            out += ('.' if out else '') + str(part)
    return out or 'args'


# --------------------------------------------------------------------------- built-in validator

class SchemaError(Exception):
    def __init__(self, path, message):
        super().__init__(message)
        self.path = list(path)
        self.message = message


_TYPES = {
    'object': lambda v: isinstance(v, dict),
    'array': lambda v: isinstance(v, list),
    'string': lambda v: isinstance(v, str),
    'boolean': lambda v: isinstance(v, bool),
    'integer': lambda v: isinstance(v, int) and not isinstance(v, bool),
    'number': lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    'null': lambda v: v is None,
}


def _resolve(root, ref):
    if not ref.startswith('#/'):
        raise ValueError('unsupported $ref %s' % ref)
    node = root
    for part in ref[2:].split('/'):
        node = node[part]
    return node


def builtin_validate(value, schema, root=None, path=()):
    """Draft-04 subset used by OSBUILD_IMAGE_SCHEMA: $ref, type, anyOf, items (list or tuple),
    minItems, maxItems, properties, required, additionalProperties. Raises SchemaError."""
    root = root if root is not None else schema
    if '$ref' in schema:
        return builtin_validate(value, _resolve(root, schema['$ref']), root, path)
    t = schema.get('type')
    if t is not None:
        types = t if isinstance(t, list) else [t]
        if not any(_TYPES[x](value) for x in types):
            raise SchemaError(path, '%r is not of type %s' % (value, ', '.join(repr(x) for x in types)))
    if 'anyOf' in schema:
        errors = []
        for sub in schema['anyOf']:
            try:
                builtin_validate(value, sub, root, path)
                break
            except SchemaError as e:
                errors.append(e)
        else:
            # alternatives refused for their type alone are not what the caller meant: if exactly
            # one alternative had the right type, its error explains more than the summary
            relevant = [e for e in errors if not (e.path == list(path) and 'is not of type' in e.message)]
            if len(relevant) == 1:
                raise relevant[0]
            raise SchemaError(path, '%r is not valid under any of the given schemas' % (value,))
    if isinstance(value, list):
        if 'minItems' in schema and len(value) < schema['minItems']:
            raise SchemaError(path, '%r is too short' % (value,))
        if 'maxItems' in schema and len(value) > schema['maxItems']:
            raise SchemaError(path, '%r is too long' % (value,))
        items = schema.get('items')
        if isinstance(items, list):
            for i, (v, s) in enumerate(zip(value, items)):
                builtin_validate(v, s, root, path + (i,))
        elif isinstance(items, dict):
            for i, v in enumerate(value):
                builtin_validate(v, items, root, path + (i,))
    if isinstance(value, dict):
        for key in schema.get('required', []):
            if key not in value:
                raise SchemaError(path, '%r is a required property' % key)
        props = schema.get('properties', {})
        extra = [k for k in value if k not in props]
        if extra and schema.get('additionalProperties', True) is False:
            raise SchemaError(path, 'Additional properties are not allowed (%s %s unexpected)' % (
                ', '.join(repr(k) for k in sorted(extra)), 'was' if len(extra) == 1 else 'were'))
        for key, sub in props.items():
            if key in value:
                builtin_validate(value[key], sub, root, path + (key,))


def validate_args(args, schema=OSBUILD_IMAGE_SCHEMA, names=None):
    """Validates the positional values against the call's schema; raises koji.ParameterError naming the field."""
    if jsonschema is not None:
        validator = jsonschema.Draft4Validator(schema)
        errors = sorted(validator.iter_errors(args), key=lambda e: (len(e.absolute_path), str(e.message)))
        if errors:
            err = jsonschema.exceptions.best_match(errors) or errors[0]
            raise koji.ParameterError('%s: %s' % (field_name(list(err.absolute_path), names), err.message))
        return
    try:
        builtin_validate(args, schema)
    except SchemaError as err:
        raise koji.ParameterError('%s: %s' % (field_name(err.path, names), err.message))


def task_priority(priority, truthy_only=False):
    """The make_task options for a call's priority: added to Koji's default; below 0 for admins only."""
    task_opts = {'channel': 'image'}
    if truthy_only and not priority:
        return task_opts
    if priority is not None and not isinstance(priority, bool) and isinstance(priority, int):
        if priority < 0 and not context.session.hasPerm('admin'):
            raise koji.ActionNotAllowed('only admins may create high-priority tasks')
        task_opts['priority'] = koji.PRIO_DEFAULT + priority
    elif priority is not None:
        raise koji.ParameterError('priority: %r is not of type integer' % (priority,))
    return task_opts


@koji.plugin.export
def osbuildImage(name, version, distro, image_type, target, arches, opts=None, priority=None):
    """Create an image build task (method osbuildImage, channel image) built by Kiln."""
    context.session.assertPerm('image')

    args = [name, version, distro, image_type, target, arches, opts]
    validate_args(args)

    if isinstance(image_type, list) and len(image_type) == 1:  # the deprecated form Pungi sends
        image_type = image_type[0]
        args = [name, version, distro, image_type, target, arches, opts]

    task_opts = task_priority(priority)
    task_id = kojihub.make_task('osbuildImage', args, **task_opts)
    logger.info('osbuildImage %s-%s (%s, %s, %s) for %s: task %s', name, version, distro, image_type,
                ', '.join(arches), target, task_id)
    return task_id


# --------------------------------------------------------------------------- asking Kiln first

def _truthy(value):
    return str(value).strip().lower() in ('1', 'true', 'yes', 'on')


# Kiln's names of the per-image options the caller gave once in opts (the same for every arch)
IMAGE_BUILDER_FIELDS = ((re.compile(r'image_requests\[\d+\]\.(bootc|ostree)\b'), r'opts.\1'),
                        (re.compile(r'image_requests\[\d+\]\.image_type\b'), 'types[0]'))


def bootc_options(opts):
    """imageBuilderBuild's opts.bootc without empty values (koji-image-builder passes only the
    ones set); with a container ref the distribution is the container's, so image-builder's
    refusal of --distro with --bootc-ref is made here, before a task is queued."""
    bootc = {k: v for k, v in (opts.get('bootc') or {}).items() if v}
    if bootc and opts.get('distro'):
        raise koji.ParameterError('opts.distro: cannot be given with opts.bootc (image-builder: cannot use --distro with --bootc-ref): '
                                  "a bootc image's distribution is its container's")
    return bootc


def kiln_check(request, config=None, fields=()):
    """Asks Kiln whether it can build `request` (compose.check). What it refuses becomes a
    koji.ParameterError with Kiln's reason (which names the field, Kiln's name rewritten by
    `fields`, (pattern, replacement) pairs, into the caller's); Kiln unreachable is logged and
    let through: the builder plugin then fails the task saying so."""
    config = config or read_config()
    if not config.get('check', True):
        return None
    if not config.get('hub_url'):
        logger.warning('kiln.conf has no hub_url (this hub\'s URL as Kiln knows it): Kiln is not asked before tasks are queued')
        return None
    request = dict(request)
    request['koji'] = dict(request['koji'], server=config['hub_url'])
    return _ask_kiln(config, 'check the request', lambda rpc: rpc.compose.check(request), 'Kiln cannot build this: %s', fields)


def _ask_kiln(config, what, call, refused, fields=()):
    """call(rpc) on Kiln's XML-RPC: Kiln's ParameterError becomes the hub's (`refused` % its
    text, field names rewritten by `fields`); Kiln unreachable or failing otherwise is logged
    and None returned."""
    try:
        rpc = kiln_rpc(config)
    except Exception as e:
        logger.warning('could not set up the Kiln client: %s', e)
        return None
    try:
        return call(rpc)
    except xmlrpc.client.Fault as f:
        if f.faultCode == koji.ParameterError.faultCode:
            text = f.faultString
            for pattern, replacement in fields:
                text = pattern.sub(replacement, text)
            raise koji.ParameterError(refused % text)
        logger.warning('Kiln could not %s: %s', what, f.faultString)
    except Exception as e:
        logger.warning('could not reach Kiln to %s: %s', what, e)
    finally:
        rpc('close')()
    return None


def kiln_translate_kickstart(text, config=None):
    """Kiln's translation of a kickstart (kickstart.translate), or None when Kiln is unreachable."""
    return _ask_kiln(config or read_config(), 'translate the kickstart', lambda rpc: rpc.kickstart.translate(text), 'opts.kickstart: %s')


def tag_distro(build_tag):
    """The distribution a build tag's buildroot is, from the release package tagged in it (what
    image-builder reads from the buildroot's os-release), or None."""
    for package, _ in RELEASE_PACKAGES:
        builds = kojihub.readTaggedBuilds(build_tag, inherit=True, latest=True, package=package)
        if builds:
            return release_distro(package, builds[0]['version'])
    return None


def _placeholder_koji(name, version, release=None, scratch=False):
    return {'server': '', 'task_id': 0, 'name': name, 'version': version, 'release': release or '1',
            **({'scratch': True} if scratch else {})}


def _tag_arches(build_tag):
    info = kojihub.get_tag(build_tag, strict=True)
    return [koji.canonArch(a) for a in (info.get('arches') or '').split()]


@koji.plugin.export
def imageBuilderBuild(target, arches, types, name, version, opts=None, priority=None):
    """koji-image-builder's call (Pungi's imagebuilder phase, `koji image-builder-build`): a
    task `imageBuilderBuild` in channel image, built by Kiln."""
    context.session.assertPerm('image')
    if opts is None:
        opts = {}
    args = [target, arches, types, name, version, opts]
    validate_args(args, IMAGE_BUILDER_BUILD_SCHEMA, IMAGE_BUILDER_ARG_NAMES)
    task_opts = task_priority(priority)
    # what Kiln cannot build is refused now, not as a failed build later
    bootc = bootc_options(opts)
    target_info = kojihub.get_build_target(target, strict=True)
    distro = None
    if not bootc:  # a bootc image's distribution is its container's: no release package is needed
        distro = opts.get('distro') or (opts.get('blueprint') or {}).get('distro') or tag_distro(target_info['build_tag'])
        if not distro:
            raise koji.ParameterError('opts.distro: is needed: no release package (%s) is tagged in %s to tell its distribution' % (
                ', '.join(p for p, _ in RELEASE_PACKAGES), target_info['build_tag_name']))
    failable = set(opts.get('failable_arches') or [])
    request = {
        'koji': _placeholder_koji(name, version, opts.get('release'), opts.get('scratch')),
        'image_requests': [
            dict({'architecture': arch, 'image_type': types[0], 'repositories': [{'baseurl': 'http://kiln.invalid/repo'}]},
                 **({'failable': True} if arch in failable else {}),
                 **({'ostree': {k: v for k, v in opts['ostree'].items() if v}} if opts.get('ostree') else {}),
                 **({'bootc': dict(bootc)} if bootc else {}))
            for arch in (arches or _tag_arches(target_info['build_tag']))
        ],
    }
    if distro:
        request['distribution'] = distro
    for key in ('blueprint', 'preview'):
        if opts.get(key) is not None:
            request[key] = opts[key]
    if opts.get('seed') is not None:
        request['seed'] = str(opts['seed'])
    kiln_check(request, fields=IMAGE_BUILDER_FIELDS)
    task_id = kojihub.make_task('imageBuilderBuild', args, **task_opts)
    logger.info('imageBuilderBuild %s-%s (%s, %s) for %s: task %s', name, version, types[0], ', '.join(arches) or 'all arches',
                target, task_id)
    return task_id


def read_kickstart(opts):
    """The text of koji image-build's uploaded kickstart (opts.kickstart, relative to the top
    directory), or None when it comes from SCM (ksurl): the builder fetches that one."""
    if opts.get('ksurl') or not opts.get('kickstart'):
        return None
    path = os.path.normpath(os.path.join(koji.pathinfo.topdir, opts['kickstart']))
    if not path.startswith(os.path.normpath(koji.pathinfo.work()) + os.sep):
        raise koji.ParameterError('opts.kickstart: %r is not an uploaded kickstart' % (opts['kickstart'],))
    try:
        with open(path, encoding='utf-8', errors='replace') as f:
            return f.read()
    except OSError as e:
        raise koji.ParameterError('opts.kickstart: cannot read %s: %s' % (opts['kickstart'], e.strerror))


def not_applied_lines(translation):
    return ['line %s: %s (%s)' % (n['line'], n['text'], n['reason']) for n in translation.get('not_applied', [])]


def buildImageOz(name, version, arches, target, inst_tree, opts=None, priority=None):
    """`koji image-build` (RootExports.buildImageOz, same signature, checks and task), built by
    Kiln: exported in place of the hub's own when kiln.conf says `image_build = true`."""
    for value in (name, inst_tree, version):
        kojihub.convert_value(value, cast=str, check_only=True)
    context.session.assertPerm('image')
    task_opts = task_priority(priority, truthy_only=True)
    config = read_config()
    opts = opts or {}
    formats = oz_formats(opts.get('format'), config.get('formats'))
    if not opts.get('distro'):
        raise koji.ParameterError('opts.distro: is required (e.g. Fedora-42)')
    text = read_kickstart(opts)
    blueprint = None
    if text is not None:
        translation = kiln_translate_kickstart(text, config)
        if translation is not None:
            lines = not_applied_lines(translation)
            if lines and config.get('strict_kickstarts'):
                raise koji.ParameterError('opts.kickstart: strict mode: what osbuild cannot apply from the kickstart:\n  %s' % '\n  '.join(lines))
            blueprint = translation.get('blueprint') or None
    optional = opts.get('optional_arches') or []
    if isinstance(optional, str):
        optional = [a for a in optional.split(',') if a]
    request = {
        'distribution': oz_distro(opts['distro']),
        'koji': _placeholder_koji(name, version, opts.get('release'), opts.get('scratch')),
        'image_requests': [
            dict({'architecture': koji.canonArch(arch), 'image_type': image_type, 'filename_suffix': suffix,
                  'repositories': [{'baseurl': 'http://kiln.invalid/repo'}]},
                 **({'failable': True} if arch in optional else {}))
            for arch in arches for (_, image_type, suffix, _) in formats
        ],
    }
    if blueprint:
        request['blueprint'] = blueprint
    kiln_check(request, config)
    args = [name, version, arches, target, inst_tree, opts]
    task_id = kojihub.make_task('image', args, **task_opts)
    logger.info('buildImageOz %s-%s (%s; %s) for %s: task %s', name, version, ', '.join(f[0] for f in formats), ', '.join(arches),
                target, task_id)
    return task_id




# --------------------------------------------------------------------------- attaching images to tasks

def _top_task(task_id):
    seen = set()
    while task_id not in seen:
        seen.add(task_id)
        parent = kojihub.Task(task_id).getInfo(strict=True)['parent']
        if parent is None:
            return task_id
        task_id = parent
    return task_id


def _file_names(files):
    if not isinstance(files, list) or not files:
        raise koji.ParameterError('files: a non-empty list of file names is required')
    for f in files:
        if not isinstance(f, str) or not f or '/' in f or f.startswith('.'):
            raise koji.GenericError('Invalid file name: %r' % (f,))
    return files


@koji.plugin.export_in('host')
def kilnAttachImages(task_id, source, files):
    """Puts the images Kiln built for a task into the task's directory, where Koji's own image
    tasks leave theirs (Pungi, `koji download-task` and moveImageBuildToScratch read them there).
    Only the host running the task may, as for its uploads. source {'directory': <upload
    directory>}: a scratch build's files are moved out of Kiln's (a content generator's) upload
    directory. source {'build_id': <build>}: the build's image archives get a symlink to where its
    import put them, as the hub's own image import leaves one. Returns the names attached."""
    host = kojihub.Host()
    host.verify()
    task_id = kojihub.convert_value(task_id, cast=int)
    kojihub.Task(task_id).assertHost(host.id)
    files = _file_names(files)
    if not isinstance(source, dict) or ('directory' in source) == ('build_id' in source):
        raise koji.ParameterError('source: give {"directory": <upload directory>} or {"build_id": <build>}')
    dest = koji.pathinfo.task(task_id)
    koji.ensuredir(dest)
    for name in files:
        if os.path.lexists(os.path.join(dest, name)):
            raise koji.GenericError('%s is already in the directory of task %s' % (name, task_id))
    if 'directory' in source:
        reldir = os.path.normpath(str(source['directory']))
        if reldir.startswith('..') or reldir.startswith('/') or reldir.split('/')[0] == 'tasks':
            raise koji.GenericError('Not an upload directory: %s' % source['directory'])
        srcdir = os.path.join(koji.pathinfo.work(), reldir)
        try:
            with open(os.path.join(srcdir, '.user')) as f:
                owner = kojihub.get_user(int(f.read()), strict=True)['name']
        except (OSError, ValueError, koji.GenericError):
            owner = None
        if owner is None or not any(owner in cg.get('users', []) for cg in kojihub.list_cgs().values()):
            raise koji.ActionNotAllowed("%s is not a content generator's upload directory" % source['directory'])
        for name in files:
            path = os.path.join(srcdir, name)
            if os.path.islink(path) or not os.path.isfile(path):
                raise koji.GenericError('No such file: %s' % os.path.join(reldir, name))
        for name in files:
            os.rename(os.path.join(srcdir, name), os.path.join(dest, name))
        logger.info('task %s: attached %s from %s', task_id, ', '.join(files), reldir)
        return files
    build = kojihub.get_build(source['build_id'], strict=True)
    if build['state'] != koji.BUILD_STATES['COMPLETE'] or not kojihub.get_image_build(build['id']):
        raise koji.GenericError('Build %s is not a complete image build' % build['id'])
    if build['task_id'] is None or _top_task(build['task_id']) != _top_task(task_id):
        raise koji.ActionNotAllowed('Build %s does not belong to the tasks of task %s' % (build['id'], task_id))
    images = koji.pathinfo.imagebuild(build)
    archives = set(a['filename'] for a in kojihub.list_archives(buildID=build['id'], type='image'))
    for name in files:
        if name not in archives:
            raise koji.GenericError('%s is not an image archive of build %s' % (name, build['id']))
    for name in files:
        os.symlink(os.path.relpath(os.path.join(images, name), dest), os.path.join(dest, name))
    logger.info('task %s: linked %s of build %s', task_id, ', '.join(files), build['id'])
    return files


# --------------------------------------------------------------------------- cancel callback

def read_config(path=None):
    path = path or os.environ.get('KILN_HUB_PLUGIN_CONF') or DEFAULT_CONFIG_FILE
    cp = configparser.ConfigParser()
    cp.read(path)
    sec = cp['kiln'] if cp.has_section('kiln') else {}
    token = sec.get('token')
    if not token and sec.get('token_file'):
        with open(sec.get('token_file')) as f:
            token = f.read().strip()
    return {
        'url': sec.get('url', 'http://localhost:8700'),
        'token': token,
        'ssl_cert': sec.get('ssl_cert'),
        'ssl_key': sec.get('ssl_key'),
        'ssl_ca': sec.get('ssl_ca'),
        'timeout': float(sec.get('timeout', '10')),
        'scan_pages': int(sec.get('scan_pages', '5')),
        'hub_url': sec.get('hub_url') or None,
        'check': _truthy(sec.get('check', 'true')),
        'image_build': _truthy(sec.get('image_build', 'false')),
        'strict_kickstarts': _truthy(sec.get('strict_kickstarts', 'false')),
        'formats': dict(cp['formats']) if cp.has_section('formats') else {},
    }


class _KilnTransport(xmlrpc.client.SafeTransport):
    def __init__(self, token, context_, timeout, secure):
        super().__init__(context=context_)
        self._token = token
        self._timeout = timeout
        self._secure = secure

    def make_connection(self, host):
        if self._secure:
            conn = super().make_connection(host)
        else:
            conn = xmlrpc.client.Transport.make_connection(self, host)
        conn.timeout = self._timeout
        return conn

    def send_headers(self, connection, headers):
        if self._token:
            headers = list(headers) + [('Authorization', 'Bearer %s' % self._token)]
        super().send_headers(connection, headers)


def kiln_rpc(config):
    """An xmlrpc.client proxy for Kiln's POST /RPC2 with the configured credentials."""
    url = config['url'].rstrip('/') + '/RPC2'
    secure = url.startswith('https:')
    ctx = None
    if secure:
        ctx = ssl.create_default_context(cafile=config.get('ssl_ca') or None)
        if config.get('ssl_cert'):
            ctx.load_cert_chain(config['ssl_cert'], config.get('ssl_key') or None)
    transport = _KilnTransport(config.get('token'), ctx, config['timeout'], secure)
    return xmlrpc.client.ServerProxy(url, transport=transport, allow_none=True)


# the tasks Kiln builds, and (for subtasks) the task whose directory records the compose
KILN_METHODS = ('osbuildImage', 'imageBuilderBuild', 'image')
KILN_SUBTASK_METHODS = ('imageBuilderBuildArch', 'createImage')


def _recorded_compose(task_id):
    """The compose id the builder recorded in the task's directory (kiln-compose.json), if readable."""
    try:
        with open(os.path.join(koji.pathinfo.task(task_id), 'kiln-compose.json')) as f:
            return json.load(f).get('id')
    except Exception:
        return None


def find_composes(rpc, task_id, pages=5):
    """Unfinished composes of this Koji task, newest first."""
    found = []
    for page in range(pages):
        result = rpc.compose.list(100, page * 100)
        for item in result.get('items', []):
            if (item.get('koji_status') or {}).get('task_id') == task_id and item.get('status') not in ('success', 'failure'):
                found.append(item['id'])
        if (page + 1) * 100 >= result.get('total', 0):
            break
    return found


def cancel_task_composes(task_id, config=None):
    """Asks Kiln to cancel the composes of a Koji task. Returns the ids canceled; never raises."""
    try:
        config = config or read_config()
        rpc = kiln_rpc(config)
    except Exception as e:
        logger.warning('could not set up the Kiln client to cancel the compose of task %s: %s', task_id, e)
        return []
    try:
        ids = []
        recorded = _recorded_compose(task_id)
        if recorded:
            ids.append(recorded)
        else:
            ids = find_composes(rpc, task_id, config.get('scan_pages', 5))
        done = []
        for cid in ids:
            try:
                rpc.compose.cancel(cid, 'Koji task %s canceled' % task_id)
                done.append(cid)
                logger.info('canceled Kiln compose %s of task %s', cid, task_id)
            except Exception as e:
                logger.warning('could not cancel Kiln compose %s of task %s: %s', cid, task_id, e)
        return done
    except Exception as e:
        logger.warning('could not reach Kiln to cancel the compose of task %s: %s', task_id, e)
        return []
    finally:
        rpc('close')()


def _is_canceled(value):
    return value == koji.TASK_STATES['CANCELED'] or value == 'CANCELED'


@koji.plugin.callback('postTaskStateChange')
@koji.plugin.ignore_error
def kiln_task_state_change(cbtype, *args, **kws):
    """A canceled Kiln task (osbuildImage, imageBuilderBuild, image, or one of their per-arch
    subtasks) cancels its Kiln compose at once (instead of letting it finish and import a build
    for a task nobody wants)."""
    try:
        if kws.get('attribute') != 'state' or not _is_canceled(kws.get('new')):
            return
        info = kws.get('info') or {}
        if info.get('method') in KILN_METHODS:
            cancel_task_composes(info['id'])
        elif info.get('method') in KILN_SUBTASK_METHODS and info.get('parent'):
            # the compose is the parent's (one compose for all arches); canceling one arch cancels it
            cancel_task_composes(info['parent'])
    except Exception as e:  # never break the hub
        logger.warning('kiln cancel callback failed: %s', e)


# the hub's own buildImageOz is replaced only when the admin says so (kiln.conf: image_build = true)
if read_config().get('image_build'):
    koji.plugin.export(buildImageOz)
