"""Kiln builder plugin for kojid: runs `osbuildImage` tasks by submitting a compose to Kiln's
HTTP API (the osbuild-composer cloud API subset) and following it to the end.

Install as /usr/lib/koji-builder-plugins/kiln.py and enable with `plugins = kiln` in
/etc/kojid/kojid.conf; the host must be in channel `image`. Configuration:
/etc/kiln/builder.conf (KILN_BUILDER_CONF names another file); see koji-plugin/README.md.

Compared with koji-osbuild's builder: progress is visible while the compose runs
(kiln-progress.log and compose-status.json are re-uploaded as they change), there is an
overall timeout, a canceled or interrupted task cancels its compose, `$arch` is the only
variable substituted in repository URLs and ostree refs (any other `$var` is an error naming
it), and a failure carries Kiln's reason.
"""

import configparser
import io
import json
import logging
import os
import signal
import ssl
import string
import threading
import time
import urllib.error
import urllib.request

import koji
from koji.daemon import fast_incremental_upload
from koji.tasks import BaseTaskHandler

logger = logging.getLogger('koji.plugin.kiln')

DEFAULT_CONFIG_FILE = '/etc/kiln/builder.conf'
API_PATH = '/api/image-builder-composer/v2'

# Koji-era image type names → cloud API names (koji-osbuild KOJIAPI_IMAGE_TYPES)
LEGACY_IMAGE_TYPES = {
    'qcow2': 'guest-image',
    'ec2': 'aws-rhui',
    'ec2-ha': 'aws-ha-rhui',
    'ec2-sap': 'aws-sap-rhui',
}

DEFAULTS = {
    'url': 'http://localhost:8700',
    'timeout': '86400',          # overall limit for one compose, seconds (0: none)
    'poll_interval': '2',        # seconds between status polls
    'request_timeout': '60',     # one HTTP request, seconds
    'retries': '5',              # retries of a failed GET (connection errors, 5xx)
    'cancel_check_interval': '10',  # seconds between checks that the Koji task is still open
}


def map_image_type(image_type):
    """A legacy Koji image type name becomes the cloud API name; others pass unchanged."""
    if isinstance(image_type, (list, tuple)):
        if len(image_type) != 1:
            raise koji.ParameterError('image_type: exactly one image type is supported, got %r' % (image_type,))
        image_type = image_type[0]
    return LEGACY_IMAGE_TYPES.get(image_type, image_type)


def substitute_arch(text, arch, where):
    """Replaces $arch / ${arch} with arch; `$$` is a literal `$`. Any other variable is a
    BuildError naming it and where it was found (instead of a KeyError deep in the task)."""
    tmpl = string.Template(text)
    for m in tmpl.pattern.finditer(text):
        name = m.group('named') or m.group('braced')
        if name is not None and name != 'arch':
            raise koji.BuildError('%s: unknown variable $%s in %r (only $arch is substituted)' % (where, name, text))
        if m.group('invalid') is not None:
            raise koji.BuildError('%s: invalid "$" in %r (use $arch, or $$ for a literal $)' % (where, text))
    return tmpl.substitute(arch=arch)


def read_config(path=None):
    path = path or os.environ.get('KILN_BUILDER_CONF') or DEFAULT_CONFIG_FILE
    cp = configparser.ConfigParser()
    cp.read(path)
    sec = dict(cp['kiln']) if cp.has_section('kiln') else {}
    cfg = dict(DEFAULTS)
    cfg.update(sec)
    token = cfg.get('token')
    if not token and cfg.get('token_file'):
        with open(cfg['token_file']) as f:
            token = f.read().strip()
    ssl_verify = cfg.get('ssl_verify', 'true').strip().lower() not in ('0', 'false', 'no', 'off')
    return {
        'url': cfg['url'].rstrip('/'),
        'token': token or None,
        'ssl_cert': cfg.get('ssl_cert') or None,
        'ssl_key': cfg.get('ssl_key') or None,
        'ssl_ca': cfg.get('ssl_ca') or None,
        'ssl_verify': ssl_verify,
        'timeout': float(cfg['timeout']),
        'poll_interval': float(cfg['poll_interval']),
        'request_timeout': float(cfg['request_timeout']),
        'retries': int(cfg['retries']),
        'cancel_check_interval': float(cfg['cancel_check_interval']),
        'koji_server': cp.get('koji', 'server', fallback=None),
    }


class KilnError(koji.GenericError):
    pass


class KilnClient(object):
    """Kiln's compose API over HTTP(S): bearer token and/or client certificate, JSON bodies,
    GETs retried on connection errors and 5xx with backoff."""

    def __init__(self, config):
        self.url = config['url']
        self.base = self.url + API_PATH
        self.token = config.get('token')
        self.timeout = config.get('request_timeout', 60)
        self.retries = config.get('retries', 5)
        self.context = None
        if self.url.startswith('https:'):
            ctx = ssl.create_default_context(cafile=config.get('ssl_ca'))
            if not config.get('ssl_verify', True):
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            if config.get('ssl_cert'):
                ctx.load_cert_chain(config['ssl_cert'], config.get('ssl_key'))
            self.context = ctx

    def _once(self, method, path, body):
        data = None if body is None else json.dumps(body).encode()
        headers = {'Accept': 'application/json'}
        if data is not None:
            headers['Content-Type'] = 'application/json'
        if self.token:
            headers['Authorization'] = 'Bearer %s' % self.token
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self.context) as res:
                return res.status, json.loads(res.read() or b'null')
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, {'reason': raw.decode('utf-8', 'replace')[:500]}

    def request(self, method, path, body=None, retry=True):
        delay = 0.5
        for attempt in range(self.retries + 1):
            try:
                status, payload = self._once(method, path, body)
                if not (retry and status in (500, 502, 503, 504) and attempt < self.retries):
                    return status, payload
                logger.warning('%s %s: HTTP %s, retrying', method, path, status)
            except (urllib.error.URLError, OSError) as e:
                refused = isinstance(getattr(e, 'reason', e), ConnectionRefusedError)
                # a refused connection never reached Kiln: safe to retry even a POST
                if attempt >= self.retries or not (retry or refused):
                    raise KilnError('cannot reach Kiln at %s: %s' % (self.url, getattr(e, 'reason', e)))
                logger.warning('%s %s: %s, retrying', method, path, e)
            time.sleep(delay)
            delay = min(delay * 2, 10)
        raise KilnError('unreachable')  # pragma: no cover

    @staticmethod
    def reason(payload):
        if isinstance(payload, dict) and payload.get('reason'):
            code = payload.get('code')
            return '%s (%s)' % (payload['reason'], code) if code else payload['reason']
        return json.dumps(payload)

    def compose_create(self, request):
        status, payload = self.request('POST', '/compose', request, retry=False)
        if status != 201:
            raise KilnError('Failed to create the compose request: HTTP %s: %s' % (status, self.reason(payload)))
        return payload['id']

    def _get(self, what, path):
        status, payload = self.request('GET', path)
        if status != 200:
            raise KilnError('Failed to get the compose %s: HTTP %s: %s' % (what, status, self.reason(payload)))
        return payload

    def compose_status(self, cid):
        return self._get('status', '/composes/%s' % cid)

    def compose_logs(self, cid):
        return self._get('logs', '/composes/%s/logs' % cid)

    def compose_manifests(self, cid):
        return self._get('manifests', '/composes/%s/manifests' % cid).get('manifests', [])

    def compose_cancel(self, cid, reason):
        status, payload = self.request('POST', '/composes/%s/cancel' % cid, {'reason': reason[:1000]})
        if status != 200:
            raise KilnError('Failed to cancel the compose: HTTP %s: %s' % (status, self.reason(payload)))
        return payload


class TaskInterrupted(BaseException):
    """kojid stopped the task (SIGTERM on cancel or shutdown)."""


class TaskNotOwned(Exception):
    """The hub refused an upload to the task's directory: this host no longer owns the task
    (it was canceled, or freed and reassigned, on the hub)."""


def status_line(status):
    parts = ['compose %s: %s' % (status.get('id'), status.get('status'))]
    for i, img in enumerate(status.get('image_statuses') or []):
        s = '[%d] %s' % (i, img.get('status'))
        prog = img.get('progress')
        if prog:
            s += ' %s/%s' % (prog.get('done'), prog.get('total'))
            if prog.get('message'):
                s += ' %s' % prog['message']
            sub = prog.get('subprogress')
            if sub:
                s += ' (%s/%s%s)' % (sub.get('done'), sub.get('total'), ' ' + sub['message'] if sub.get('message') else '')
        if img.get('error'):
            s += ' error: %s' % img['error'].get('reason')
        parts.append(s)
    if status.get('reason'):
        parts.append('reason: %s' % status['reason'])
    return '; '.join(parts)


def failure_reason(status):
    reasons = []
    if status.get('reason'):
        reasons.append(status['reason'])
    for img in status.get('image_statuses') or []:
        err = img.get('error')
        if err and err.get('reason') and err['reason'] not in reasons:
            reasons.append(err['reason'])
    return '; '.join(reasons) or 'no reason given'


class KilnOSBuildImage(BaseTaskHandler):
    Methods = ['osbuildImage']
    _taskWeight = 0.2

    def __init__(self, task_id, method, params, session, options, *args, **kwargs):
        super().__init__(task_id, method, params, session, options, *args, **kwargs)
        self.config = read_config()
        self.client = KilnClient(self.config)
        self.progress = io.StringIO()
        self._last_line = None
        self._last_status_json = None

    # ------------------------------------------------------------------ uploads

    def upload_text(self, name, text):
        try:
            fast_incremental_upload(self.session, name, io.BytesIO(text.encode('utf-8')),
                                    koji.pathinfo.taskrelpath(self.id), 3, logger)
        except koji.ActionNotAllowed as e:
            # the hub's "host N does not own task M" (Host.verify / Task.assertHost)
            raise TaskNotOwned(str(e))

    def upload_json(self, name, data):
        self.upload_text(name + '.json', json.dumps(data, indent=4, sort_keys=True))

    def log_progress(self, line, force=False):
        if line == self._last_line and not force:
            return
        self._last_line = line
        self.progress.write('%s %s\n' % (time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), line))
        self.upload_text('kiln-progress.log', self.progress.getvalue())

    def on_status(self, status):
        data = dict(status)
        data['koji_task_id'] = self.id  # koji-osbuild#122: the task id was always null there
        blob = json.dumps(data, sort_keys=True)
        if blob != self._last_status_json:
            self._last_status_json = blob
            self.upload_json('compose-status', data)
        self.log_progress(status_line(status))

    # ------------------------------------------------------------------ request

    def resolve_arches(self, target_info, arches):
        buildconfig = self.session.getBuildConfig(target_info['build_tag'])
        tag_arches = set(koji.canonArch(a) for a in (buildconfig.get('arches') or '').split())
        if not tag_arches:
            raise koji.BuildError("Missing arches for tag '%s'" % target_info['build_tag_name'])
        unsupported = sorted(set(arches) - tag_arches)
        if unsupported:
            raise koji.BuildError('Unsupported architecture(s) for tag %s: %s (tag arches: %s)' % (
                target_info['build_tag_name'], ', '.join(unsupported), ', '.join(sorted(tag_arches))))
        return list(arches)

    def resolve_repos(self, target_info, opts):
        """[(baseurl template, package_sets or None)] from opts['repo'] or the build tag's repo."""
        repos = []
        for entry in opts.get('repo') or []:
            if isinstance(entry, str):
                repos.append((entry, None))
            else:
                repos.append((entry['baseurl'], entry.get('package_sets')))
        if repos:
            return repos
        repo = self.getRepo(target_info['build_tag'])
        topurl = getattr(self.options, 'topurl', None)
        if not topurl:
            raise koji.BuildError('no repo given and kojid has no topurl to build the build-tag repo URL from')
        url = koji.PathInfo(topdir=topurl).repo(repo['id'], target_info['build_tag_name']) + '/$arch'
        return [(url, None)]

    def make_request(self, name, version, release, distro, image_type, arches, repos, opts):
        image_requests = []
        for arch in arches:
            repositories = []
            for i, (url, package_sets) in enumerate(repos):
                r = {'baseurl': substitute_arch(url, arch, 'repo[%d]' % i), 'rhsm': False}
                if package_sets:
                    r['package_sets'] = list(package_sets)
                repositories.append(r)
            ireq = {'architecture': arch, 'image_type': image_type, 'repositories': repositories}
            ostree = opts.get('ostree')
            if ostree:
                o = {}
                for key in ('parent', 'ref'):
                    if ostree.get(key):
                        o[key] = substitute_arch(ostree[key], arch, 'ostree.%s' % key)
                if ostree.get('url'):
                    o['url'] = ostree['url']
                ireq['ostree'] = o
            if opts.get('upload_options'):
                ireq['upload_options'] = opts['upload_options']
            image_requests.append(ireq)
        request = {
            'distribution': distro,
            'koji': {
                'name': name, 'version': version, 'release': release,
                'server': self.koji_server(), 'task_id': self.id,
            },
            'image_requests': image_requests,
        }
        if opts.get('customizations'):
            request['customizations'] = opts['customizations']
        return request

    def koji_server(self):
        return (self.config.get('koji_server') or getattr(self.options, 'server', None)
                or getattr(self.session, 'baseurl', None))

    # ------------------------------------------------------------------ waiting

    def task_canceled(self):
        try:
            info = self.session.getTaskInfo(self.id)
        except Exception as e:  # the hub being briefly away must not fail the build
            logger.warning('cannot check task %s: %s', self.id, e)
            return False
        return bool(info) and info.get('state') in (koji.TASK_STATES['CANCELED'], koji.TASK_STATES['FAILED'])

    def cancel_compose(self, cid, reason):
        """Cancels the compose in Kiln and logs what happened; returns Kiln's status of it, or
        None when Kiln could not be asked. Noting it in kiln-progress.log is a separate step: after
        a cancel on the hub the task no longer takes this host's uploads, which says nothing about
        the compose."""
        self.client.retries = min(self.client.retries, 2)
        try:
            status = self.client.compose_cancel(cid, reason)
        except BaseException as e:
            logger.warning('could not cancel compose %s: %s', cid, e)
            return None
        if status.get('status') == 'failure':
            note = 'compose %s ended: %s' % (cid, failure_reason(status))
        elif status.get('status') == 'success':
            note = 'compose %s had already succeeded; nothing to cancel' % cid
        else:
            note = 'compose %s: cancel requested (%s)' % (cid, reason)
        logger.info('task %s: %s', self.id, note)
        try:
            self.log_progress(note, force=True)
        except TaskNotOwned as e:
            logger.info('task %s: not noted in kiln-progress.log, the hub no longer takes this host\'s uploads for the task (%s)', self.id, e)
        except Exception as e:
            logger.warning('task %s: could not note in kiln-progress.log: %s', self.id, e)
        return status

    def task_not_owned(self, cid, err):
        """The hub took the task from this host: cancel the compose (if the hub plugin has not
        already) and end the handler saying what happened."""
        try:
            info = self.session.getTaskInfo(self.id) or {}
            state = koji.TASK_STATES[info['state']] if 'state' in info else 'gone'
        except Exception as e:
            state = 'unknown (%s)' % e
        logger.info('task %s is %s on the hub; this host no longer owns it (%s)', self.id, state, err)
        status = self.cancel_compose(cid, 'Koji task %s %s' % (self.id, state.lower()))
        outcome = 'could not be canceled' if status is None else 'canceled' if status.get('status') != 'success' else 'had already succeeded'
        raise koji.BuildError('Task %s is %s on the hub; compose %s %s' % (self.id, state, cid, outcome))

    def wait_for_compose(self, cid):
        timeout = self.config['timeout']
        deadline = time.monotonic() + timeout if timeout > 0 else None
        next_check = time.monotonic() + self.config['cancel_check_interval']
        while True:
            status = self.client.compose_status(cid)
            try:
                self.on_status(status)
                lost = None
            except TaskNotOwned as e:
                lost = e
            if lost:
                self.task_not_owned(cid, lost)
            if status.get('status') in ('success', 'failure'):
                return status
            now = time.monotonic()
            if deadline is not None and now > deadline:
                self.cancel_compose(cid, 'Koji task %s: timed out after %g s' % (self.id, timeout))
                raise koji.BuildError('Compose %s did not finish within %g s (builder.conf timeout); canceled' % (cid, timeout))
            if now >= next_check:
                next_check = now + self.config['cancel_check_interval']
                if self.task_canceled():
                    self.cancel_compose(cid, 'Koji task %s canceled' % self.id)
                    raise koji.BuildError('Task %s was canceled; compose %s canceled' % (self.id, cid))
            time.sleep(self.config['poll_interval'])

    def attach_results(self, cid, image_requests):
        try:
            manifests = self.client.compose_manifests(cid)
            for ireq, manifest in zip(image_requests, manifests):
                if manifest:  # {} holds the place of an image that has no manifest (its depsolve failed)
                    self.upload_json('%s-%s.manifest' % (ireq['architecture'], ireq['image_type']), manifest)
        except Exception as e:
            logger.warning('could not attach the manifests of compose %s: %s', cid, e)
        try:
            logs = self.client.compose_logs(cid)
            kl = logs.get('koji') or {}
            if kl.get('init'):
                self.upload_json('koji-init.log', kl['init'])
            if kl.get('import'):
                self.upload_json('koji-import.log', kl['import'])
            for ireq, log in zip(image_requests, logs.get('image_builds') or []):
                self.upload_json('%s-%s.log' % (ireq['architecture'], ireq['image_type']), log)
        except Exception as e:
            logger.warning('could not attach the logs of compose %s: %s', cid, e)

    def _on_sigterm(self, signum, frame):
        raise TaskInterrupted('signal %d' % signum)

    # ------------------------------------------------------------------ handler

    def handler(self, name, version, distro, image_type, target, arches, opts=None):
        opts = dict(opts or {})
        target_info = self.session.getBuildTarget(target, strict=True)
        if not target_info:
            raise koji.BuildError("Target '%s' not found" % target)
        arches = self.resolve_arches(target_info, arches)
        repos = self.resolve_repos(target_info, opts)
        release = opts.get('release') or self.session.getNextRelease(
            {'name': name, 'version': version, 'release': None})
        image_type = map_image_type(image_type)
        request = self.make_request(name, version, release, distro, image_type, arches, repos, opts)

        self.upload_json('compose-request', request)
        self.log_progress('submitting %s-%s-%s (%s, %s: %s) to %s' % (
            name, version, release, distro, image_type, ', '.join(arches), self.client.url))

        previous = None
        in_main = threading.current_thread() is threading.main_thread()
        if in_main:
            previous = signal.signal(signal.SIGTERM, self._on_sigterm)
        try:
            cid = self.client.compose_create(request)
            self.upload_json('kiln-compose', {'server': self.client.url, 'id': cid})
            self.log_progress('compose %s created' % cid)
            try:
                status = self.wait_for_compose(cid)
            except koji.BuildError:
                raise
            except BaseException as e:
                # interrupted (task canceled: kojid signals its handler) or Kiln unreachable for
                # longer than the retries: cancel the compose rather than leave it building
                self.cancel_compose(cid, 'Koji task %s stopped: %s' % (self.id, e or type(e).__name__))
                raise
        finally:
            if in_main:
                signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)

        self.attach_results(cid, request['image_requests'])

        if status.get('status') != 'success':
            self.log_progress('compose %s failed: %s' % (cid, failure_reason(status)), force=True)
            raise koji.BuildError('Compose %s failed: %s' % (cid, failure_reason(status)))

        build_id = (status.get('koji_status') or {}).get('build_id')
        if not build_id:
            raise koji.BuildError('Compose %s succeeded but reports no Koji build id' % cid)
        self.log_progress('compose %s succeeded: Koji build %s' % (cid, build_id), force=True)

        if not opts.get('skip_tag'):
            task_id = self.session.host.subtask(method='tagBuild',
                                                arglist=[target_info['dest_tag'], build_id, False, None, True],
                                                label='tag', parent=self.id, arch='noarch')
            self.wait(task_id)
            self.log_progress('build %s tagged into %s' % (build_id, target_info['dest_tag_name']), force=True)

        return {
            'composer': {'server': self.client.url, 'id': cid},
            'koji': {'build': build_id},
        }

