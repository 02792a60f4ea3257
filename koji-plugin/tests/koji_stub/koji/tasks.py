"""Stand-in for koji.tasks.BaseTaskHandler (the parts builder plugins use)."""

import logging
import os
import shutil
import time

import koji
import koji.util


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
        if workdir is None:
            workdir = '%s/%s' % (getattr(options, 'workdir', None) or '/tmp/koji-stub-work', koji.pathinfo.taskrelpath(id))
        self.workdir = workdir
        self.logger = logging.getLogger('koji.build.BaseTaskHandler')

    def run(self):
        args, kwargs = koji.decode_args(*self.params)
        os.makedirs(self.workdir, exist_ok=True)
        try:
            return self.handler(*args, **kwargs)
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def handler(self, *args, **kwargs):
        raise NotImplementedError

    def getUploadDir(self):
        return koji.pathinfo.taskrelpath(self.id)

    def uploadFile(self, filename, relPath=None, remoteName=None, volume=None):
        self.session.uploadWrapper(filename, self.getUploadDir(), remoteName, volume=volume)

    def wait(self, subtasks=None, all=False, failany=False, canfail=None, timeout=None):
        """koji.tasks.BaseTaskHandler.wait, polling instead of kojid's SIGUSR2 wake-ups."""
        checked = set(canfail or [])
        if isinstance(subtasks, int):
            subtasks = [subtasks]
        self.session.host.taskSetWait(self.id, subtasks)
        start = time.time()
        while True:
            finished, unfinished = self.session.host.taskWait(self.id)
            if len(unfinished) == 0:
                break
            elif len(finished) > 0:
                if all:
                    if failany:
                        for task in set(finished) - checked:
                            try:
                                self.session.getTaskResult(task)
                                checked.add(task)
                            except koji.GenericError:
                                self.session.cancelTaskChildren(self.id)
                                raise
                else:
                    break
            if timeout and time.time() - start > timeout:
                self.session.cancelTaskChildren(self.id)
                raise koji.GenericError('Subtasks timed out after %.1f seconds' % (time.time() - start))
            time.sleep(0.2)
        if all:
            finished = subtasks
        return dict(self.session.host.taskWaitResults(self.id, finished, canfail=canfail))

    def getRepo(self, tag, builds=None, wait=False):
        """koji.tasks.BaseTaskHandler.getRepo (koji 1.35): a repo the hub calls current, else a
        waitrepo subtask that waits for the new one. wait=True asks for the tag's last change."""
        watcher = koji.util.RepoWatcher(self.session, tag, nvrs=builds, min_event='last' if wait else None,
                                        logger=self.logger)
        repoinfo = watcher.getRepo()
        if repoinfo:
            return repoinfo
        task_id = self.session.host.subtask(method='waitrepo', arglist=watcher.task_args(), parent=self.id)
        return self.wait(task_id)[task_id]


class WaitrepoTask(BaseTaskHandler):
    """koji.tasks.WaitrepoTask: waits on a repo request until kojira has made the repo."""
    Methods = ['waitrepo']
    _taskWeight = 0.2
    # koji's is 60 s; the tests' kojid may set a shorter one
    PAUSE = float(os.environ.get('KOJI_STUB_WAITREPO_PAUSE', '60'))
    TIMEOUT = 120

    def handler(self, tag, newer_than=None, nvrs=None, min_event=None):
        if newer_than is not None:
            raise koji.GenericError('the koji stub supports min_event, not the legacy newer_than')
        watcher = koji.util.RepoWatcher(self.session, tag, nvrs=nvrs, min_event=min_event, logger=self.logger)
        watcher.PAUSE = self.PAUSE
        watcher.TIMEOUT = self.TIMEOUT
        return watcher.waitrepo()
