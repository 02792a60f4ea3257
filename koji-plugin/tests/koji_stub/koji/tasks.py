"""Stand-in for koji.tasks.BaseTaskHandler (the parts builder plugins use)."""

import logging
import time

import koji


class ServerExit(Exception):
    pass


class BaseTaskHandler(object):
    Methods = []
    Foreground = False
    _taskWeight = 1.0

    def __init__(self, id, method, params, session, options, workdir=None):
        self.id = id
        self.method = method
        self.params = params
        self.session = session
        self.options = options
        self.workdir = workdir or '/tmp/koji-task-%s' % id
        self.logger = logging.getLogger('koji.build.BaseTaskHandler')

    def run(self):
        args, kwargs = koji.decode_args(*self.params)
        return self.handler(*args, **kwargs)

    def handler(self, *args, **kwargs):
        raise NotImplementedError

    def getUploadDir(self):
        return koji.pathinfo.taskrelpath(self.id)

    def uploadFile(self, filename, relPath=None, remoteName=None, volume=None):
        self.session.uploadWrapper(filename, self.getUploadDir(), remoteName, volume=volume)

    def wait(self, subtasks=None, all=False, failany=False, canfail=None, timeout=None):
        if subtasks is None:
            subtasks = []
        elif not isinstance(subtasks, (list, tuple)):
            subtasks = [subtasks]
        self.session.host.taskSetWait(self.id, subtasks)
        start = time.time()
        while True:
            finished, unfinished = self.session.host.taskWait(self.id)
            if not [t for t in subtasks if t in unfinished]:
                break
            if timeout and time.time() - start > timeout:
                raise koji.GenericError('Subtasks timed out')
            time.sleep(0.2)
        return dict(self.session.host.taskWaitResults(self.id, subtasks, canfail=canfail))

    def getRepo(self, tag, builds=None, wait=False):
        taginfo = self.session.getTag(tag, strict=True)
        repo = self.session.getRepo(taginfo['id'])
        if not repo:
            raise koji.BuildError('no repo for tag %s' % taginfo['name'])
        return repo
