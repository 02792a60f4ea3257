"""Kiln builder plugin for kojid: runs Koji's image tasks by submitting a compose to Kiln's HTTP
API (the osbuild-composer cloud API subset and Kiln's own calls) and following it to the end:

- `osbuildImage` (koji-osbuild's task): one compose, the build imported by Kiln;
- `imageBuilderBuild` and its per-arch `imageBuilderBuildArch` subtasks (koji-image-builder's
  tasks, Pungi's imagebuilder phase): the parent submits one compose for all arches, each
  subtask follows its arch's image and returns the result Pungi reads (`files` in its task
  directory, where the images are attached);
- `image` and its per-arch `createImage` subtasks (`koji image-build`, Pungi's image_build
  phase; when enabled with `image_build = true`): the same, from the kickstart's translation.

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
    'image_build': 'false',      # run koji image-build's tasks (image, createImage) with Kiln
    'strict_kickstarts': 'false',  # refuse a kickstart with lines osbuild cannot apply
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


def substitute_arch(text, arch, where, names=('arch',)):
    """Replaces $arch / ${arch} (and the other `names`) with arch; `$$` is a literal `$`. Any other
    variable is a BuildError naming it and where it was found (instead of a KeyError deep in the task)."""
    tmpl = string.Template(text)
    for m in tmpl.pattern.finditer(text):
        name = m.group('named') or m.group('braced')
        if name is not None and name not in names:
            raise koji.BuildError('%s: unknown variable $%s in %r (only %s substituted)' % (
                where, name, text, ' and '.join('$' + n for n in names) + (' is' if len(names) == 1 else ' are')))
        if m.group('invalid') is not None:
            raise koji.BuildError('%s: invalid "$" in %r (use $arch, or $$ for a literal $)' % (where, text))
    return tmpl.substitute({n: arch for n in names})


# koji image-build's formats → (Kiln image type, the file name suffix ImageFactory gives the
# image, whether it has a disk that --disk-size sizes). The same table is in the hub plugin (a
# test keeps them equal); `[formats]` in the configuration replaces an entry's image type.
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


def as_list(value):
    """koji image-build's list options come as lists (--config, Pungi) or comma strings (CLI)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(',') if v.strip()]
    return list(value)


MAX_INCLUDE_DEPTH = 10


def resolve_includes(path, depth=0):
    """A kickstart with its %include lines replaced by the files they name (relative to the
    including file's directory, as pykickstart reads them)."""
    if depth > MAX_INCLUDE_DEPTH:
        raise koji.BuildError('%s: %%include nested deeper than %d' % (path, MAX_INCLUDE_DEPTH))
    out = []
    with open(path, encoding='utf-8', errors='replace') as f:
        for line in f:
            words = line.split()
            if words and words[0] in ('%include', '%ksappend') and len(words) == 2:
                inc = words[1] if os.path.isabs(words[1]) else os.path.join(os.path.dirname(path), words[1])
                if not os.path.isfile(inc):
                    raise koji.BuildError('Kickstart %s: %s %s does not exist' % (os.path.basename(path), words[0], words[1]))
                out.append(resolve_includes(inc, depth + 1))
                if not out[-1].endswith('\n'):
                    out.append('\n')
            else:
                out.append(line)
    return ''.join(out)


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
    truthy = lambda key: str(cfg.get(key, 'false')).strip().lower() in ('1', 'true', 'yes', 'on')  # noqa: E731
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
        'image_build': truthy('image_build'),
        'strict_kickstarts': truthy('strict_kickstarts'),
        'formats': dict(cp['formats']) if cp.has_section('formats') else {},
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

    def compose_outputs(self, cid):
        return self._get('outputs', '/composes/%s/outputs' % cid)

    def translate_kickstart(self, text):
        status, payload = self.request('POST', '/kickstart', {'kickstart': text})
        if status != 200:
            raise koji.BuildError('Kiln cannot read the kickstart: %s' % self.reason(payload))
        return payload

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


def status_line(status, only=None):
    parts = ['compose %s: %s' % (status.get('id'), status.get('status'))]
    for i, img in enumerate(status.get('image_statuses') or []):
        if only is not None and i not in only:
            continue
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


class KilnTask(BaseTaskHandler):
    """What every Kiln task does: talk to Kiln, attach files to the task, log progress while a
    compose runs, and cancel the compose when the task stops (kojid's SIGINT/SIGTERM on a
    cancel, the task canceled on the hub, Kiln unreachable, the overall timeout)."""
    Methods = []
    _taskWeight = 0.2

    def __init__(self, task_id, method, params, session, options, *args, **kwargs):
        super().__init__(task_id, method, params, session, options, *args, **kwargs)
        self.config = read_config()
        self.client = KilnClient(self.config)
        self.progress = io.StringIO()
        self._last_line = None
        self._last_status_json = None
        # the compose this task runs or follows, and whether it has ended (then nothing is canceled)
        self.compose_id = None
        self.compose_done = False

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

    def on_status(self, status, only=None):
        data = dict(status)
        data['koji_task_id'] = self.id  # koji-osbuild#122: the task id was always null there
        blob = json.dumps(data, sort_keys=True)
        if blob != self._last_status_json:
            self._last_status_json = blob
            self.upload_json('compose-status', data)
        self.log_progress(status_line(status, only))

    # ------------------------------------------------------------------ Koji data

    def koji_server(self):
        return (self.config.get('koji_server') or getattr(self.options, 'server', None)
                or getattr(self.session, 'baseurl', None))

    def tag_repo_url(self, target_info, repo=None):
        """The build tag's current repo, `$arch` left in: <topurl>/repos/<build tag>/<repo id>/$arch."""
        repo = repo or self.getRepo(target_info['build_tag'])
        topurl = getattr(self.options, 'topurl', None)
        if not topurl:
            raise koji.BuildError('no repo given and kojid has no topurl to build the build-tag repo URL from')
        return koji.PathInfo(topdir=topurl).repo(repo['id'], target_info['build_tag_name']) + '/$arch'

    def tag_distro(self, target_info):
        """The build tag's distribution, from the release package tagged in it (what image-builder
        reads from the buildroot's os-release)."""
        for package, _ in RELEASE_PACKAGES:
            builds = self.session.getLatestBuilds(target_info['build_tag'], package=package)
            if builds:
                return release_distro(package, builds[0]['version'])
        raise koji.BuildError('no distro given, and no release package (%s) is tagged in %s to tell its distribution' % (
            ', '.join(p for p, _ in RELEASE_PACKAGES), target_info['build_tag_name']))

    def task_owner(self):
        info = self.session.getTaskInfo(self.id)
        return self.session.getUser(info['owner'])['name']

    def check_package(self, target_info, name, opts):
        """What the hub's initImageBuild checks before an image build: the package list of the
        destination tag (unless skip_tag), and an NVR no other build holds."""
        if opts.get('skip_tag'):
            return
        cfg = self.session.getPackageConfig(target_info['dest_tag_name'], name)
        if cfg is None:
            raise koji.BuildError('package (image) %s not in list for tag %s' % (name, target_info['dest_tag_name']))
        if cfg.get('blocked'):
            raise koji.BuildError('package (image)  %s is blocked for tag %s' % (name, target_info['dest_tag_name']))

    def check_nvr(self, name, version, release):
        build = self.session.getBuild('%s-%s-%s' % (name, version, release))
        if build and build['state'] in (koji.BUILD_STATES['BUILDING'], koji.BUILD_STATES['COMPLETE']):
            raise koji.BuildError('Build already exists (id=%s, state=%s): %s-%s-%s' % (
                build['id'], koji.BUILD_STATES[build['state']], name, version, release))

    # ------------------------------------------------------------------ composes

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

    def wait_for_compose(self, cid, only=None):
        """Polls the compose until it ends (success or failure); with `only` (image indexes) the
        progress shown is those images', and a failure of one of them ends the wait at once."""
        timeout = self.config['timeout']
        deadline = time.monotonic() + timeout if timeout > 0 else None
        next_check = time.monotonic() + self.config['cancel_check_interval']
        while True:
            status = self.client.compose_status(cid)
            try:
                self.on_status(status, only)
                lost = None
            except TaskNotOwned as e:
                lost = e
            if lost:
                self.task_not_owned(cid, lost)
            if status.get('status') in ('success', 'failure'):
                self.compose_done = True
                return status
            if only is not None:
                images = status.get('image_statuses') or []
                if any(images[i].get('status') == 'failure' for i in only if i < len(images)):
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

    def _on_signal(self, signum, frame):
        raise TaskInterrupted('signal %d' % signum)

    def run(self):
        """The task, guarded: when it stops before its compose ended (kojid's SIGINT, then SIGTERM,
        on a cancel or a shutdown; Kiln unreachable; any error), the compose is canceled rather
        than left building."""
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, self._on_signal)
        try:
            return super().run()
        except BaseException as e:
            if self.compose_id and not self.compose_done:
                self.cancel_compose(self.compose_id, 'Koji task %s stopped: %s' % (self.id, e or type(e).__name__))
            raise
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler if handler is not None else signal.SIG_DFL)

    def create_compose(self, request, describe):
        """Records the request, creates the compose and records its id (kiln-compose.json)."""
        self.upload_json('compose-request', request)
        self.log_progress('submitting %s to %s' % (describe, self.client.url))
        cid = self.compose_id = self.client.compose_create(request)
        self.upload_json('kiln-compose', {
            'server': self.client.url, 'id': cid,
            'images': [{'arch': r['architecture'], 'image_type': r['image_type']} for r in request['image_requests']],
        })
        self.log_progress('compose %s created' % cid)
        return cid

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

    def attach_images(self, cid, indexes, scratch):
        """Puts images `indexes` of the compose into this task's directory (Kiln's hub plugin:
        host.kilnAttachImages): a scratch build's files are moved there from Kiln's upload
        directory, an imported build's images linked there. Returns (files, logs) as Koji's
        image task results name them."""
        outputs = self.client.compose_outputs(cid)
        files, logs = [], []
        for i in indexes:
            image = outputs['images'][i]
            if image['status'] != 'success':
                continue
            names = [f['name'] for f in image['files'] if f['role'] in ('image', 'manifest')]
            if scratch:
                self.session.host.kilnAttachImages(self.id, {'directory': image['directory']}, [f['name'] for f in image['files']])
                logs.extend(f['name'] for f in image['files'] if f['role'] == 'log')
            else:
                self.session.host.kilnAttachImages(self.id, {'build_id': outputs['koji']['build_id']}, names)
            files.extend(names)
        return files, logs


class KilnOSBuildImage(KilnTask):
    """koji-osbuild's task: one compose for the arches and image types, imported by Kiln."""
    Methods = ['osbuildImage']
    _taskWeight = 0.2

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
        return [(self.tag_repo_url(target_info), None)]

    def make_request(self, name, version, release, distro, image_type, arches, repos, opts):
        image_types = [map_image_type(t) for t in image_type] if isinstance(image_type, (list, tuple)) else [image_type]
        image_requests = []
        for arch in arches:
            repositories = []
            for i, (url, package_sets) in enumerate(repos):
                r = {'baseurl': substitute_arch(url, arch, 'repo[%d]' % i), 'rhsm': False}
                if package_sets:
                    r['package_sets'] = list(package_sets)
                repositories.append(r)
            for itype in image_types:
                ireq = {'architecture': arch, 'image_type': itype, 'repositories': repositories}
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
        koji_opts = {
            'name': name, 'version': version, 'release': release,
            'server': self.koji_server(), 'task_id': self.id,
        }
        if opts.get('scratch'):
            koji_opts['scratch'] = True
        request = {'distribution': distro, 'koji': koji_opts, 'image_requests': image_requests}
        if opts.get('customizations'):
            request['customizations'] = opts['customizations']
        return request

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
        if isinstance(image_type, (list, tuple)) and len(image_type) == 1:
            image_type = image_type[0]
        image_type = [map_image_type(t) for t in image_type] if isinstance(image_type, (list, tuple)) else map_image_type(image_type)
        request = self.make_request(name, version, release, distro, image_type, arches, repos, opts)

        cid = self.create_compose(request, '%s-%s-%s (%s, %s: %s)%s' % (
            name, version, release, distro, ', '.join(image_type) if isinstance(image_type, list) else image_type,
            ', '.join(arches), ' scratch' if opts.get('scratch') else ''))
        status = self.wait_for_compose(cid)
        self.attach_results(cid, request['image_requests'])

        if status.get('status') != 'success':
            self.log_progress('compose %s failed: %s' % (cid, failure_reason(status)), force=True)
            raise koji.BuildError('Compose %s failed: %s' % (cid, failure_reason(status)))

        if opts.get('scratch'):
            files, logs = self.attach_images(cid, range(len(request['image_requests'])), scratch=True)
            self.session.host.moveImageBuildToScratch(self.id, {str(self.id): {
                'task_id': self.id, 'files': files, 'logs': logs}})
            self.log_progress('compose %s succeeded: scratch images %s' % (cid, ', '.join(files)), force=True)
            return {'composer': {'server': self.client.url, 'id': cid}, 'koji': {'scratch': True, 'files': files}}

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


class KilnImageParent(KilnTask):
    """The parent of Koji's per-arch image tasks (imageBuilderBuild, image): one compose for all
    arches, then a subtask per arch that follows its arch's images; scratch images moved into
    place as Koji's own (moveImageBuildToScratch); the build tagged unless skip_tag."""
    _taskWeight = 0.2
    subtask_method = None
    failany = False

    def recorded_compose(self):
        """The compose an earlier run of this task created (kojid restarted it), to follow instead of a second one."""
        try:
            data = json.loads(self.session.downloadTaskOutput(self.id, 'kiln-compose.json'))
        except Exception:
            return None
        try:
            status = self.client.compose_status(data['id'])
        except Exception:
            return None
        return data['id'] if status.get('status') != 'failure' else None

    def run_compose(self, request, describe, arches, arglist, failable, scratch, skip_tag, target_info):
        cid = self.compose_id = self.recorded_compose()
        if cid:
            self.log_progress('following compose %s, which an earlier run of this task created' % cid)
        else:
            cid = self.create_compose(request, describe)
        subtasks = {}
        for arch in arches:
            subtasks[arch] = self.session.host.subtask(method=self.subtask_method, arglist=arglist(arch),
                                                       label=arch, parent=self.id, arch=arch)
        canfail = [subtasks[a] for a in arches if a in failable]
        self.subtasks = subtasks

        # a subtask failing fails this task: run() cancels the compose (unless it already ended)
        results = self.wait(list(subtasks.values()), all=True, failany=self.failany, canfail=canfail)
        if all('task_id' not in (r or {}) for r in results.values()):
            raise koji.GenericError('all subtasks failed')
        status = self.client.compose_status(cid)
        self.compose_done = status.get('status') in ('success', 'failure')
        self.on_status(status)
        self.attach_results(cid, request['image_requests'])
        if scratch:
            return cid, None, results
        build_id = (status.get('koji_status') or {}).get('build_id')
        if status.get('status') != 'success' or not build_id:
            raise koji.BuildError('Compose %s failed: %s' % (cid, failure_reason(status)))
        self.log_progress('compose %s succeeded: Koji build %s' % (cid, build_id), force=True)
        if not skip_tag:
            tag_task = self.session.host.subtask(method='tagBuild', arglist=[target_info['dest_tag'], build_id, False, None, True],
                                                 label='tag', parent=self.id, arch='noarch')
            self.wait(tag_task)
            self.log_progress('build %s tagged into %s' % (build_id, target_info['dest_tag_name']), force=True)
        return cid, build_id, results

    def finish(self, cid, build_id, results, name, version, release):
        """Koji's image task results: scratch images moved into place, the result string."""
        if build_id is None:
            self.session.host.moveImageBuildToScratch(self.id, results)
            dirs = [koji.pathinfo.task(r['task_id']) for r in results.values() if 'task_id' in (r or {})]
            self.log_progress('compose %s succeeded: scratch images in %s' % (cid, ', '.join(dirs)), force=True)
            return 'Scratch image build results in: ' + ', '.join(dirs)
        return 'image build results in: ' + koji.pathinfo.imagebuild({'name': name, 'version': version, 'release': release})


class KilnImageChild(KilnTask):
    """A per-arch image subtask: follows its arch's images in the parent's compose, attaches them
    to its task directory and returns the result Koji's image import and Pungi read."""
    _taskWeight = 0.2

    def follow_arch(self, name, version, release, arch, scratch):
        parent = self.session.getTaskInfo(self.id)['parent']
        try:
            recorded = json.loads(self.session.downloadTaskOutput(parent, 'kiln-compose.json'))
        except koji.GenericError as e:
            raise koji.BuildError('task %s recorded no Kiln compose: %s' % (parent, e))
        cid = recorded['id']
        mine = [i for i, img in enumerate(recorded['images']) if img['arch'] == arch]
        if not mine:
            raise koji.BuildError('compose %s builds no %s image' % (cid, arch))
        self.compose_id = cid
        self.upload_json('kiln-compose', dict(recorded, parent_task=parent))
        self.log_progress('following the %s images of compose %s (task %s)' % (arch, cid, parent))
        status = self.wait_for_compose(cid, only=mine)
        images = status.get('image_statuses') or []
        failed = [images[i] for i in mine if i < len(images) and images[i].get('status') == 'failure']
        if failed:
            # the compose goes on for the other arches (this one may be failable): not ours to cancel
            self.compose_done = True
            reason = '; '.join((img.get('error') or {}).get('reason', 'no reason given') for img in failed)
            self.log_progress('the %s image failed: %s' % (arch, reason), force=True)
            raise koji.BuildError('Compose %s: the %s image failed: %s' % (cid, arch, reason))
        if status.get('status') != 'success':
            self.log_progress('compose %s failed: %s' % (cid, failure_reason(status)), force=True)
            raise koji.BuildError('Compose %s failed: %s' % (cid, failure_reason(status)))
        files, logs = self.attach_images(cid, mine, scratch)
        self.log_progress('%s: %s' % (arch, ', '.join(files)), force=True)
        return {'task_id': self.id, 'name': name, 'version': version, 'release': release, 'arch': arch,
                'files': files, 'logs': logs, 'rpmlist': []}


class KilnImageBuilderBuild(KilnImageParent):
    """koji-image-builder's `imageBuilderBuild` (Pungi's imagebuilder phase)."""
    Methods = ['imageBuilderBuild']
    subtask_method = 'imageBuilderBuildArch'

    def handler(self, target, arches, types, name, version, opts=None):
        opts = {} if opts is None else dict(opts)
        target_info = self.session.getBuildTarget(target, strict=True)
        build_tag = target_info['build_tag']
        build_config = self.session.getBuildConfig(build_tag)
        if not build_config['arches']:
            raise koji.BuildError('no arches')
        tag_arches = set(koji.canonArch(a) for a in build_config['arches'].split())
        if not arches:
            arches = sorted(tag_arches)
        else:
            diff = set(arches) - tag_arches
            if diff:
                raise koji.BuildError('Unsupported architecture(s): ' + str(diff))
        repo_info = self.getRepo(build_tag)
        if not opts.get('scratch'):
            opts['scratch'] = False
        release = opts.get('release') or self.session.getNextRelease({'name': name, 'version': version})
        # koji-image-builder passes the bootc options that are set; with them the image is the
        # container's, whose distribution it is (image-builder: no --distro with --bootc-ref)
        bootc = {k: v for k, v in (opts.get('bootc') or {}).items() if v}
        if bootc and opts.get('distro'):
            raise koji.BuildError('opts.distro: cannot be given with opts.bootc (image-builder: cannot use --distro with --bootc-ref)')
        if not opts['scratch']:
            self.check_package(target_info, name, opts)
            self.check_nvr(name, version, release)
        distro = None if bootc else opts.get('distro') or (opts.get('blueprint') or {}).get('distro') or self.tag_distro(target_info)
        repos = opts.get('repos') or [self.tag_repo_url(target_info, repo_info)]
        failable = set(opts.get('failable_arches') or [])
        image_requests = []
        for arch in arches:
            ireq = {'architecture': arch, 'image_type': types[0],
                    'repositories': [{'baseurl': substitute_arch(url, arch, 'repos[%d]' % i, ('arch', 'basearch')), 'rhsm': False}
                                     for i, url in enumerate(repos)]}
            if arch in failable:
                ireq['failable'] = True
            ostree = {k: v for k, v in (opts.get('ostree') or {}).items() if v}
            if ostree:
                ireq['ostree'] = dict(ostree, **({'ref': substitute_arch(ostree['ref'], arch, 'ostree.ref')} if ostree.get('ref') else {}))
            if bootc:
                # container refs as given (koji-image-builder substitutes nothing in them); Kiln
                # picks each arch's image of a multi-arch ref
                ireq['bootc'] = dict(bootc)
            image_requests.append(ireq)
        koji_opts = {'name': name, 'version': version, 'release': release, 'server': self.koji_server(),
                     'task_id': self.id, 'owner': self.task_owner()}
        if opts['scratch']:
            koji_opts['scratch'] = True
        request = {'koji': koji_opts, 'image_requests': image_requests}
        if distro:
            request['distribution'] = distro
        if opts.get('blueprint'):
            request['blueprint'] = opts['blueprint']
        if opts.get('seed') is not None:
            request['seed'] = str(opts['seed'])
        if opts.get('preview') is not None:
            request['preview'] = opts['preview']
        cid, build_id, results = self.run_compose(
            request, '%s-%s-%s (%s, %s: %s)%s' % (name, version, release, distro or 'bootc %s' % bootc.get('ref'), types[0], ', '.join(arches),
                                                  ' scratch' if opts['scratch'] else ''),
            arches, lambda arch: [name, version, release, arch, types, target_info, build_config, repo_info, opts],
            failable, opts['scratch'], opts.get('skip_tag'), target_info)
        results = {str(k): v for k, v in results.items()}
        return self.finish(cid, build_id, results, name, version, release)


class KilnImageBuilderBuildArch(KilnImageChild):
    """koji-image-builder's per-arch `imageBuilderBuildArch`."""
    Methods = ['imageBuilderBuildArch']

    def handler(self, name, version, release, arch, types, target_info, build_config, repo_info, opts=None):
        opts = opts or {}
        return self.follow_arch(name, version, release, arch, bool(opts.get('scratch')))


IMAGE_BUILD = read_config().get('image_build')


class KilnBuildImage(KilnImageParent):
    """`koji image-build` (kojid's BuildBaseImageTask, method `image`): the kickstart is
    translated to a blueprint (osbuild runs no kickstart), each format is an image type."""
    Methods = ['image'] if IMAGE_BUILD else []
    subtask_method = 'createImage'
    failany = True

    def fetch_kickstart(self, opts):
        """The kickstart (from SCM with ksurl, as kojid checks it out; else the file the CLI
        uploaded) with its %include lines resolved, and its name."""
        ksfile = opts.get('kickstart')
        if not ksfile:
            raise koji.BuildError('no kickstart given (opts.kickstart)')
        workdir = self.workdir or os.path.join('/tmp', 'kiln-task-%s' % self.id)
        koji.ensuredir(workdir)
        if opts.get('ksurl'):
            from koji.daemon import SCM  # kojid's, with its allowed_scms policy
            taskinfo = self.session.getTaskInfo(self.id)
            scm = SCM(opts['ksurl'], allow_password=getattr(self.options, 'allow_password_in_scm_url', False))
            scm.assert_allowed(allowed=getattr(self.options, 'allowed_scms', ''), session=self.session,
                               by_config=getattr(self.options, 'allowed_scms_use_config', True),
                               by_policy=getattr(self.options, 'allowed_scms_use_policy', False),
                               policy_data={'user_id': taskinfo['owner'],
                                            'channel': self.session.getChannel(taskinfo['channel_id'], strict=True)['name'],
                                            'scratch': opts.get('scratch')})
            srcdir = scm.checkout(workdir, self.session, self.getUploadDir(), os.path.join(workdir, 'checkout.log'))
            kspath = os.path.join(srcdir, os.path.basename(ksfile))
        else:
            kspath = os.path.join(workdir, os.path.basename(ksfile))
            tops = {k: getattr(self.options, k, None) for k in ('topurl', 'topdir')}
            with koji.openRemoteFile(ksfile, tempdir=workdir, **tops) as src, open(kspath, 'wb') as dst:
                dst.write(src.read())
        if not os.path.isfile(kspath):
            raise koji.BuildError('Kickstart %s does not exist.' % ksfile)
        return os.path.basename(ksfile), resolve_includes(kspath)

    def translate(self, ksname, text):
        """Kiln's translation of the kickstart, written to the task log (kiln-kickstart.log); the
        blueprint, or a BuildError in strict mode when something was not applied."""
        tr = self.client.translate_kickstart(text)
        lines = ['kickstart %s: what osbuild applies and what it cannot' % ksname]
        for key, label in (('applied', 'applied'), ('not_applied', 'NOT APPLIED'), ('ignored', 'ignored')):
            for n in tr.get(key, []):
                lines.append('%-11s line %4d: %s%s' % (label, n['line'], n['text'], ' -- %s' % n['reason'] if n.get('reason') else ''))
        self.upload_text(ksname, text)
        self.upload_text('kiln-kickstart.log', '\n'.join(lines) + '\n')
        missing = tr.get('not_applied', [])
        if missing:
            self.log_progress('kickstart %s: %d lines not applied (see kiln-kickstart.log)' % (ksname, len(missing)), force=True)
            if self.config.get('strict_kickstarts'):
                raise koji.BuildError('strict mode: what osbuild cannot apply from the kickstart:\n  %s' % '\n  '.join(
                    'line %s: %s (%s)' % (n['line'], n['text'], n['reason']) for n in missing))
        return tr.get('blueprint') or {}

    def formats(self, opts):
        out = []
        for fmt in as_list(opts.get('format')) or ['raw']:
            if fmt not in OZ_FORMATS:
                raise koji.ApplianceError('Invalid format: %s (formats Kiln builds: %s)' % (fmt, ', '.join(sorted(OZ_FORMATS))))
            image_type, suffix, sized = OZ_FORMATS[fmt]
            out.append((fmt, self.config.get('formats', {}).get(fmt, image_type), suffix, sized))
        return out

    def handler(self, name, version, arches, target, inst_tree, opts=None):
        target_info = self.session.getBuildTarget(target, strict=True)
        build_tag = target_info['build_tag']
        repo_info = self.getRepo(build_tag)
        build_config = self.session.getBuildConfig(build_tag)
        if not build_config['arches']:
            raise koji.BuildError('No arches for tag %(name)s [%(id)s]' % build_config)
        tag_arches = [koji.canonArch(a) for a in build_config['arches'].split()]
        arches = [koji.canonArch(a) for a in arches]
        for arch in arches:
            if arch not in tag_arches:
                raise koji.BuildError('Invalid arch for build tag: %s' % arch)
        opts = dict(opts or {})
        taskinfo = self.session.getTaskInfo(self.id)
        self.session.host.assertPolicy('build_rpm', {
            'user_id': taskinfo['owner'], 'source': opts.get('ksurl'), 'task_id': self.id, 'build_tag': build_tag,
            'skip_tag': bool(opts.get('skip_tag')), 'scratch': bool(opts.get('scratch')), 'from_scm': False,
            'repo_id': repo_info['id'], 'target': target_info['id'],
            **({} if opts.get('skip_tag') else {'tag': target_info['dest_tag']})})
        if '-' in version:
            raise koji.ApplianceError('The Version may not have a hyphen')
        if '-' in (opts.get('release') or ''):
            raise koji.ApplianceError('The Release may not have a hyphen')
        if not opts.get('distro'):
            raise koji.BuildError('no distro given (opts.distro, e.g. Fedora-42)')
        formats = self.formats(opts)
        release = opts.get('release') or self.session.getNextRelease({'name': name, 'version': version})
        if not opts.get('scratch'):
            self.check_package(target_info, name, opts)
            self.check_nvr(name, version, release)
        ksname, text = self.fetch_kickstart(opts)
        blueprint = self.translate(ksname, text)
        repos = as_list(opts.get('repo')) or [self.tag_repo_url(target_info, repo_info)]
        disk = opts.get('disk_size')
        size = int(disk) * 1024 ** 3 if disk not in (None, '', 0, '0') else None
        optional = as_list(opts.get('optional_arches'))
        image_requests = []
        for arch in arches:
            repositories = [{'baseurl': inst_tree.replace('$arch', arch), 'rhsm': False}]
            repositories += [{'baseurl': substitute_arch(url, arch, 'repo[%d]' % i), 'rhsm': False} for i, url in enumerate(repos)]
            for fmt, image_type, suffix, sized in formats:
                ireq = {'architecture': arch, 'image_type': image_type, 'repositories': repositories, 'filename_suffix': suffix}
                if sized and size:
                    ireq['size'] = size
                if arch in optional:
                    ireq['failable'] = True
                image_requests.append(ireq)
        koji_opts = {'name': name, 'version': version, 'release': release, 'server': self.koji_server(),
                     'task_id': self.id, 'owner': self.session.getUser(taskinfo['owner'])['name']}
        if opts.get('scratch'):
            koji_opts['scratch'] = True
        request = {'distribution': oz_distro(opts['distro']), 'koji': koji_opts, 'image_requests': image_requests}
        if blueprint:
            request['blueprint'] = blueprint
        cid, build_id, results = self.run_compose(
            request, '%s-%s-%s (%s, %s: %s)%s' % (name, version, release, opts['distro'], ', '.join(f[0] for f in formats),
                                                  ', '.join(arches), ' scratch' if opts.get('scratch') else ''),
            arches, lambda arch: [name, version, release, arch, target_info, build_tag, repo_info, inst_tree.replace('$arch', arch), opts],
            set(optional), bool(opts.get('scratch')), opts.get('skip_tag'), target_info)
        # kojid keys an image build's results by arch
        by_arch = {arch: results[task_id] for arch, task_id in self.subtasks.items() if task_id in results}
        return self.finish(cid, build_id, by_arch, name, version, release)


class KilnCreateImage(KilnImageChild):
    """kojid's per-arch `createImage` of `koji image-build`."""
    Methods = ['createImage'] if IMAGE_BUILD else []

    def handler(self, name, version, release, arch, target_info, build_tag, repo_info, inst_tree, opts=None):
        opts = opts or {}
        return self.follow_arch(name, version, release, arch, bool(opts.get('scratch')))
