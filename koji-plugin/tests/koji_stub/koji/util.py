"""Stand-in for koji.util.RepoWatcher (koji 1.35): how kojid finds a current repo for a tag.

A repo is current when the hub's repo.request says so: not older than the request's min_event
(the hub's default: min(the last event before now - RepoLag, the tag's last change); "last": the
tag's last change). Otherwise the request is queued and waited on (repo.checkRequest) until
kojira has made a new repo. Waiting for builds (nvrs) and at_event/opts are not used by the Kiln
plugins and are refused rather than ignored."""

import logging
import time

import koji


class RepoWatcher(object):
    PAUSE = 6
    TIMEOUT = 120  # minutes

    def __init__(self, session, tag, nvrs=None, min_event=None, logger=None):
        if nvrs:
            raise koji.GenericError('the koji stub does not wait for builds in a repo')
        self.session = session
        self.taginfo = session.getTag(tag, strict=True)
        self.start = None
        if min_event is None:
            self.min_event = None
        elif min_event == 'last':
            self.min_event = session.tagLastChangeEvent(self.taginfo['id'])
        else:
            self.min_event = int(min_event)
        self.logger = logger or logging.getLogger('koji')
        self._task_request = None

    def getRepo(self):
        """A current repo now, or None (the request is kept for task_args)."""
        check = self.request()
        repoinfo = check.get('repo')
        if repoinfo and self.check_repo(repoinfo):
            return repoinfo
        self._task_request = check['request']
        return None

    def task_args(self):
        """waitrepo's arguments: tag, newer_than (legacy, None), nvrs, min_event"""
        min_event = self.min_event
        if min_event is None and self._task_request:
            min_event = self._task_request['min_event']
        return [self.taginfo['name'], None, [], min_event]

    def waitrepo(self):
        self.start = self.start or time.time()
        min_event = self.min_event
        req = None
        while True:
            if req:
                repoinfo = self.wait_request(req)
                if self.check_repo(repoinfo):
                    return repoinfo
                min_event = self.session.tagLastChangeEvent(self.taginfo['id'])
                self.logger.error('Repo request did not satisfy conditions')
            check = self.request(min_event)
            repoinfo = check.get('repo')
            if repoinfo:
                if self.check_repo(repoinfo):
                    return repoinfo
            else:
                req = check['request']
                if min_event in ('last', None):
                    min_event = req['min_event']
            time.sleep(self.PAUSE)

    def request(self, min_event=None):
        if min_event is None:
            min_event = self.min_event
        return self.session.repo.request(self.taginfo['id'], min_event=min_event, at_event=None, opts=None)

    def wait_request(self, req):
        while True:
            check = self.session.repo.checkRequest(req['id'])
            if check.get('repo'):
                return check['repo']
            if time.time() - self.start > self.TIMEOUT * 60.0:
                raise koji.GenericError('Unsuccessfully waited %s for a new %s repo' % (
                    int(time.time() - self.start), self.taginfo['name']))
            if not check['request']['active']:
                raise koji.GenericError('Repo request no longer active')
            time.sleep(self.PAUSE)

    def check_repo(self, repoinfo):
        if repoinfo['tag_id'] != self.taginfo['id']:
            return False
        if self.min_event is not None and repoinfo['create_event'] < self.min_event:
            self.logger.info('Got repo before min event. %s < %s', repoinfo['create_event'], self.min_event)
            return False
        return True
