"""Minimal stand-in for Koji's `koji` module (the parts the Kiln plugins use)."""

import os
import xmlrpc.client
import zlib


class GenericError(Exception):
    faultCode = 1000

    def __str__(self):
        return str(self.args[0]) if self.args else ''


class LockError(GenericError):
    faultCode = 1001


class AuthError(GenericError):
    faultCode = 1002


class TagError(GenericError):
    faultCode = 1003


class ActionNotAllowed(GenericError):
    faultCode = 1004


class BuildError(GenericError):
    faultCode = 1005


class ApplianceError(GenericError):
    faultCode = 1018


class ParameterError(GenericError):
    faultCode = 1019


class CallbackError(GenericError):
    faultCode = 1011


_FAULTS = {c.faultCode: c for c in (GenericError, LockError, AuthError, TagError, ActionNotAllowed,
                                     BuildError, ApplianceError, ParameterError, CallbackError)}


def convertFault(fault):
    cls = _FAULTS.get(getattr(fault, 'faultCode', None), GenericError)
    return cls(fault.faultString)


class _Enum(dict):
    def __init__(self, names):
        super().__init__((n, i) for i, n in enumerate(names))
        self._names = list(names)

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name)

    def __getitem__(self, key):
        # koji.Enum: a number gives its name
        if isinstance(key, int):
            return self._names[key]
        return super().__getitem__(key)


TASK_STATES = _Enum(('FREE', 'OPEN', 'CLOSED', 'CANCELED', 'ASSIGNED', 'FAILED'))
BUILD_STATES = _Enum(('BUILDING', 'COMPLETE', 'DELETED', 'FAILED', 'CANCELED'))
PRIO_DEFAULT = 20


def canonArch(arch):
    if arch in ('i386', 'i486', 'i586', 'i686', 'athlon'):
        return 'i386'
    if arch in ('amd64', 'ia32e'):
        return 'x86_64'
    if arch == 'arm64':
        return 'aarch64'
    return arch


def encode_args(*args, **kwargs):
    if kwargs:
        kwargs['__starstar'] = True
        return args + (kwargs,)
    return args


def decode_args(*args):
    opts = {}
    if args and isinstance(args[-1], dict) and args[-1].get('__starstar'):
        opts = dict(args[-1])
        del opts['__starstar']
        args = args[:-1]
    return args, opts


class PathInfo(object):
    def __init__(self, topdir='/mnt/koji'):
        self.topdir = topdir

    def taskrelpath(self, task_id):
        return 'tasks/%i/%i' % (task_id % 10000, task_id)

    def work(self):
        return os.path.join(self.topdir, 'work')

    def task(self, task_id):
        return os.path.join(self.work(), self.taskrelpath(task_id))

    def repo(self, repo_id, tag_str):
        return '%s/repos/%s/%s' % (self.topdir, tag_str, repo_id)

    def build(self, build):
        return '%s/packages/%s/%s/%s' % (self.topdir, build['name'], build['version'], build['release'])

    def imagebuild(self, build):
        return self.build(build) + '/images'

    def scratch(self):
        return os.path.join(self.topdir, 'scratch')


pathinfo = PathInfo()


def ensuredir(directory):
    os.makedirs(directory, exist_ok=True)
    return directory


def openRemoteFile(relpath, topurl=None, topdir=None, tempdir=None):
    """koji.openRemoteFile: a file of the hub's top directory, from topurl or topdir."""
    import tempfile
    import urllib.request
    if topurl:
        fo = tempfile.TemporaryFile(dir=tempdir)
        with urllib.request.urlopen('%s/%s' % (topurl, relpath), timeout=60) as res:
            fo.write(res.read())
        fo.seek(0)
        return fo
    if topdir:
        return open(os.path.join(topdir, relpath), 'rb')
    raise GenericError('No access method for remote file: %s' % relpath)


class _Transport(xmlrpc.client.Transport):
    def __init__(self, session):
        super().__init__()
        self._session = session

    def send_headers(self, connection, headers):
        super().send_headers(connection, headers)
        s = self._session
        if s.sinfo:
            s.callnum += 1
            connection.putheader('Koji-Session-Id', str(s.sinfo['session-id']))
            connection.putheader('Koji-Session-Key', str(s.sinfo['session-key']))
            connection.putheader('Koji-Session-Callnum', str(s.callnum))


class _Method(object):
    def __init__(self, session, name):
        self._session = session
        self._name = name

    def __getattr__(self, name):
        return _Method(self._session, '%s.%s' % (self._name, name))

    def __call__(self, *args, **kwargs):
        return self._session._callMethod(self._name, args, kwargs)


class ClientSession(object):
    """Koji's XML-RPC session: Koji-Session-* headers, __starstar keyword arguments, faults
    turned into koji exceptions, rawUpload over HTTP POST."""

    def __init__(self, baseurl, opts=None):
        self.baseurl = baseurl
        self.opts = dict(opts or {})
        self.sinfo = None
        self.callnum = 0
        self.logged_in = False
        self._proxy = xmlrpc.client.ServerProxy(baseurl, transport=_Transport(self), allow_none=True,
                                                use_builtin_types=True)

    def _callMethod(self, name, args, kwargs=None):
        params = encode_args(*args, **(kwargs or {}))
        try:
            return getattr(self._proxy, name)(*params)
        except xmlrpc.client.Fault as fault:
            raise convertFault(fault)

    def __getattr__(self, name):
        if name.startswith('_'):
            raise AttributeError(name)
        return _Method(self, name)

    def login(self):
        user = self.opts.get('user')
        password = self.opts.get('password')
        self.sinfo = self._callMethod('login', (user, password))
        self.logged_in = True
        return True

    def logout(self):
        if self.sinfo:
            try:
                self._callMethod('logout', ())
            finally:
                self.sinfo = None
                self.logged_in = False

    def close(self):
        self._proxy('close')()

    def downloadTaskOutput(self, taskID, fileName, offset=0, size=-1, volume=None):
        """ClientSession.downloadTaskOutput: the hub answers base64, the client decodes it."""
        import base64
        dlopts = {'offset': offset, 'size': size}
        if volume and volume != 'DEFAULT':
            dlopts['volume'] = volume
        return base64.b64decode(self._callMethod('downloadTaskOutput', (taskID, fileName), dlopts))

    def subsession(self):
        """A session of its own for a task process, under this (exclusive) one, as kojid makes them."""
        sinfo = self._callMethod('subsession', ())
        child = ClientSession(self.baseurl, self.opts)
        child.sinfo = sinfo
        child.logged_in = True
        return child

    def rawUpload(self, chunk, offset, path, name, volume=None, overwrite=False):
        import urllib.parse
        import urllib.request
        query = {'filename': name, 'filepath': path, 'offset': str(offset), 'fileverify': 'adler32'}
        if overwrite:
            query['overwrite'] = '1'
        if volume:
            query['volume'] = volume
        self.callnum += 1
        req = urllib.request.Request(
            self.baseurl + '?' + urllib.parse.urlencode(query), data=chunk, method='POST',
            headers={'Content-Type': 'application/octet-stream',
                     'Koji-Session-Id': str(self.sinfo['session-id']),
                     'Koji-Session-Key': str(self.sinfo['session-key']),
                     'Koji-Session-Callnum': str(self.callnum)})
        with urllib.request.urlopen(req, timeout=60) as res:
            body = res.read()
        try:
            (result,), _ = xmlrpc.client.loads(body, use_builtin_types=True)
        except xmlrpc.client.Fault as fault:
            raise convertFault(fault)
        return result

    def uploadWrapper(self, localfile, path, name=None, callback=None, blocksize=None,
                      overwrite=True, volume=None):
        name = name or os.path.basename(localfile)
        with open(localfile, 'rb') as fo:
            data = fo.read()
        result = self.rawUpload(data, 0, path, name, volume=volume, overwrite=overwrite)
        if result['size'] != len(data) or int(result['hexdigest'], 16) != (zlib.adler32(data) & 0xffffffff):
            raise GenericError('upload of %s failed: size or checksum mismatch' % name)
        return result

