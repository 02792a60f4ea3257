"""Kiln hub plugin for Koji.

Exports `osbuildImage` (the call Pungi and `koji osbuild-image` make, same signature and
argument schema as koji-osbuild's hub plugin) and a callback that cancels the Kiln compose of an
`osbuildImage` task as soon as the task is canceled in Koji.

Install as /usr/lib/koji-hub-plugins/kiln.py and enable with `Plugins = kiln` in
/etc/koji-hub/hub.conf. Configuration: /etc/koji-hub/plugins/kiln.conf (see koji-plugin/README.md);
the environment variable KILN_HUB_PLUGIN_CONF names another file.
"""

import configparser
import json
import logging
import os
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

# koji-osbuild's OSBUILD_IMAGE_SCHEMA (draft-04), unchanged, so that every call accepted there is
# accepted here and the same calls are refused.
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
            {"type": "array", "description": "Image Types (deprecated)",
             "minItems": 1, "maxItems": 1, "items": {"type": "string"}},
        ]},
        {"type": "string", "description": "Target"},
        {"type": "array", "description": "Architectures", "minItems": 1, "items": {"type": "string"}},
        {"$ref": "#/definitions/options"},
    ],
    "definitions": {
        "ostree": {
            "title": "OSTree specific options",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "parent": {"type": "string"},
                "ref": {"type": "string"},
                "url": {"type": "string"},
            },
        },
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
                "customizations": {"type": "object", "additionalProperties": True},
                "ostree": {"$ref": "#/definitions/ostree"},
                "upload_options": {"$ref": "#/definitions/UploadOptions"},
            },
        },
    },
}


def field_name(path):
    """['opts', 'repo', 0, 'baseurl'] style path (first element an argument index) → 'opts.repo[0].baseurl'."""
    out = ''
    for i, part in enumerate(path):
        if i == 0 and isinstance(part, int):
            out = ARG_NAMES[part] if part < len(ARG_NAMES) else 'args[%d]' % part
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


def validate_args(args):
    """Validates the 7 positional values; raises koji.ParameterError naming the field."""
    if jsonschema is not None:
        validator = jsonschema.Draft4Validator(OSBUILD_IMAGE_SCHEMA)
        errors = sorted(validator.iter_errors(args), key=lambda e: (len(e.absolute_path), str(e.message)))
        if errors:
            err = jsonschema.exceptions.best_match(errors) or errors[0]
            raise koji.ParameterError('%s: %s' % (field_name(list(err.absolute_path)), err.message))
        return
    try:
        builtin_validate(args, OSBUILD_IMAGE_SCHEMA)
    except SchemaError as err:
        raise koji.ParameterError('%s: %s' % (field_name(err.path), err.message))


@koji.plugin.export
def osbuildImage(name, version, distro, image_type, target, arches, opts=None, priority=None):
    """Create an image build task (method osbuildImage, channel image) built by Kiln."""
    context.session.assertPerm('image')

    args = [name, version, distro, image_type, target, arches, opts]
    validate_args(args)

    if isinstance(image_type, list):  # one-element list: the deprecated form Pungi sends
        image_type = image_type[0]
        args = [name, version, distro, image_type, target, arches, opts]

    task_opts = {'channel': 'image'}
    if priority is not None and not isinstance(priority, bool) and isinstance(priority, int):
        if priority < 0 and not context.session.hasPerm('admin'):
            raise koji.ActionNotAllowed('only admins may create high-priority tasks')
        task_opts['priority'] = koji.PRIO_DEFAULT + priority
    elif priority is not None:
        raise koji.ParameterError('priority: %r is not of type integer' % (priority,))

    task_id = kojihub.make_task('osbuildImage', args, **task_opts)
    logger.info('osbuildImage %s-%s (%s, %s, %s) for %s: task %s', name, version, distro, image_type,
                ', '.join(arches), target, task_id)
    return task_id


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
    """A canceled osbuildImage task cancels its Kiln compose at once (instead of letting it
    finish and import a build for a task nobody wants)."""
    try:
        if kws.get('attribute') != 'state' or not _is_canceled(kws.get('new')):
            return
        info = kws.get('info') or {}
        if info.get('method') != 'osbuildImage':
            return
        cancel_task_composes(info['id'])
    except Exception as e:  # never break the hub
        logger.warning('kiln cancel callback failed: %s', e)
