"""A kojid for the end-to-end tests, doing what koji/daemon.py's TaskManager does with the
builder plugin's handlers: one exclusive host session; tasks the hub assigns (host.getTasks)
opened and each run in a process of its own with a subsession (run_handler.py); a task that
ends on the hub while its process runs (canceled, or failed by its parent) is stopped as kojid
stops it: SIGINT, then SIGTERM after 3 s, then SIGKILL, and its subsession logged out."""

import os
import signal
import subprocess
import sys
import threading
import time

import koji

HERE = os.path.dirname(os.path.abspath(__file__))


class Kojid(object):
    def __init__(self, hub_url, user, password, topurl, topdir, logdir, env=None):
        self.hub_url = hub_url
        self.session = koji.ClientSession(hub_url, {'user': user, 'password': password})
        self.topurl = topurl
        self.topdir = topdir
        self.logdir = logdir
        self.env = dict(os.environ, **(env or {}))
        self.procs = {}  # task id → (Popen, subsession)
        self.outcome = {}  # task id → (return code, log file)
        # a kojid that has not noticed a cancel yet: the handler must see it itself
        self.keep_running = False
        self._stop = threading.Event()
        self._thread = None
        self._lock = threading.Lock()
        self.errors = []

    def start(self):
        self.session.login()
        self.session.exclusiveSession()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)
        for task_id in list(self.procs):
            self._kill(task_id)
        try:
            self.session.logout()
        except Exception:
            pass
        self.session.close()

    def log(self, task_id):
        path = os.path.join(self.logdir, 'task-%s.log' % task_id)
        return open(path).read() if os.path.exists(path) else ''

    def _loop(self):
        while not self._stop.is_set():
            try:
                self._once()
            except Exception as e:  # keep going, as kojid does
                self.errors.append(repr(e))
            self._stop.wait(0.2)

    def _once(self):
        for task in self.session.host.getTasks():
            if task['state'] != koji.TASK_STATES['ASSIGNED'] or task['id'] in self.procs or task['id'] in self.outcome:
                continue
            info = self.session.host.openTask(task['id'])
            if info:
                self._fork(task['id'])
        for task_id, (proc, sub) in list(self.procs.items()):
            if proc.poll() is not None:
                with self._lock:
                    self.procs.pop(task_id, None)
                self.outcome[task_id] = proc.returncode
                self._logout(sub)
                continue
            state = self.session.getTaskInfo(task_id)['state']
            if state != koji.TASK_STATES['OPEN'] and not self.keep_running:
                threading.Thread(target=self._kill, args=(task_id,), daemon=True).start()

    def _fork(self, task_id):
        sub = self.session.subsession()
        log = open(os.path.join(self.logdir, 'task-%s.log' % task_id), 'w')
        workdir = os.path.join(self.logdir, 'work')
        proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, 'run_handler.py'), self.hub_url, str(sub.sinfo['session-id']),
             sub.sinfo['session-key'], str(task_id), self.topurl, self.topdir, workdir],
            stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        log.close()
        with self._lock:
            self.procs[task_id] = (proc, sub)

    def stop_task(self, task_id):
        """What kojid does as soon as it sees a task of its canceled (cleanupTask)."""
        self._kill(task_id)

    def kill_now(self, task_id):
        """SIGKILL to a task's process: it gets no chance to clean up (a crashed or killed kojid)."""
        entry = self.procs.get(task_id)
        if entry:
            os.killpg(entry[0].pid, signal.SIGKILL)
            entry[0].wait()

    def _kill(self, task_id):
        """koji/daemon.py cleanupTask: SIGINT, SIGTERM, SIGKILL to the task's process group."""
        with self._lock:
            entry = self.procs.pop(task_id, None)
        if not entry:
            return
        proc, sub = entry
        for sig, grace in ((signal.SIGINT, 3), (signal.SIGTERM, 3), (signal.SIGKILL, 3)):
            if proc.poll() is not None:
                break
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            deadline = time.time() + grace
            while proc.poll() is None and time.time() < deadline:
                time.sleep(0.05)
        proc.wait()
        self.outcome[task_id] = proc.returncode
        self._logout(sub)

    def _logout(self, sub):
        try:
            self.session.logoutChild(sub.sinfo['session-id'])
        except Exception:
            pass
