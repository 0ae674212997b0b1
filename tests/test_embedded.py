"""The embedded Redis's life, with the real redis-server: clean stop and restart keep the data, a server left
by a killed service is stopped (never duplicated), one service per data directory, a dead server is
restarted by the watchdog while /healthz says so. (The data directory's privacy: tests/security/test_data_dir.py.)"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
from pathlib import Path

import pytest
import redis

from focalpoint_upload import procfs
from focalpoint_upload.embedded import DataDirInUse, EmbeddedRedis, redis_server_binary
from tests.helpers.http import request
from tests.helpers.service import RunningService, service_settings
from tests.helpers.wait import wait_for


def servers(data: Path) -> list[int]:
    return procfs.redis_servers_in(data / "redis")


def client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5)


def test_a_clean_stop_ends_the_server_and_a_restart_keeps_the_data(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = EmbeddedRedis(data)
    c = client(first.start())
    c.set("kept", "yes")
    c.close()
    assert servers(data) == [first.pid]
    first.stop()
    assert servers(data) == []
    assert not first.pidfile.exists()
    second = EmbeddedRedis(data)
    try:
        c = client(second.start())
        assert c.get("kept") == b"yes"
        c.close()
    finally:
        second.stop()
    assert servers(data) == []


def test_a_server_left_by_a_killed_service_is_stopped_at_the_next_start_not_duplicated(tmp_path: Path) -> None:
    data = tmp_path / "data"
    rdir = data / "redis"
    rdir.mkdir(parents=True)
    sock = tmp_path / "old.sock"
    # What a SIGKILLed service leaves: its server, running in the data directory, named in the pidfile.
    old = subprocess.Popen([redis_server_binary(), "--port", "0", "--unixsocket", str(sock), "--dir", str(rdir),
                            "--appendonly", "yes", "--appendfilename", "appendonly.aof", "--save", ""],
                           stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        (rdir / "redis-server.pid").write_text(json.dumps({"pid": old.pid, "socket_dir": ""}))
        old_client = client(f"unix://{sock}")
        wait_for(lambda: _pings(old_client), what="the old server answers")
        old_client.set("from-before", "1")
        old_client.close()
        embedded = EmbeddedRedis(data)
        try:
            c = client(embedded.start())
            assert old.wait(5) == 0  # stopped gracefully (SHUTDOWN on SIGTERM), so its AOF was flushed
            assert servers(data) == [embedded.pid]
            assert c.get("from-before") == b"1"
            c.close()
        finally:
            embedded.stop()
    finally:
        if old.poll() is None:
            old.kill()
            old.wait()
    assert servers(data) == []


def _pings(c: redis.Redis) -> bool:
    try:
        return bool(c.ping())
    except redis.ConnectionError:
        return False


def test_one_service_per_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = EmbeddedRedis(data)
    first.start()
    try:
        with pytest.raises(DataDirInUse, match=r"another focalpoint-upload \(pid \d+\) is using the data directory"):
            EmbeddedRedis(data).start()
        assert first.alive() and servers(data) == [first.pid]
        assert first.pidfile.exists()  # the refused start did not touch the running one's files
    finally:
        first.stop()


def test_the_watchdog_restarts_a_dead_server(tmp_path: Path) -> None:
    data = tmp_path / "data"
    embedded = EmbeddedRedis(data)
    url = embedded.start()
    try:
        assert embedded.check() is False  # alive: nothing to do
        old_pid = embedded.pid
        assert old_pid is not None
        os.kill(old_pid, signal.SIGKILL)
        wait_for(lambda: not embedded.alive(), what="the server is seen dead")
        assert embedded.check() is True
        assert embedded.alive() and embedded.pid != old_pid and embedded.restarts == 1
        c = client(url)
        assert c.ping()  # same URL: the service's clients reconnect to it
        c.close()
        assert servers(data) == [embedded.pid]
    finally:
        embedded.stop()
    assert servers(data) == []


def test_healthz_fails_while_the_embedded_redis_is_down_and_readyz_shows_no_socket(tmp_path: Path) -> None:
    settings = service_settings(tmp_path, None, "fptest-embedded")
    # A watchdog that never fires on its own: the test runs its steps (``check``) itself.
    svc = RunningService(settings, watchdog_interval_s=3600)
    try:
        embedded = svc.service.embedded
        assert embedded is not None
        assert request(svc.port, "GET", "/healthz").status == 200
        pid = embedded.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not embedded.alive(), what="the server is seen dead")
        health = request(svc.port, "GET", "/healthz")
        assert health.status == 503 and health.json["failing"][0]["check"] == "embedded_redis"
        ready = request(svc.port, "GET", "/readyz")
        assert ready.status == 503
        assert embedded.socket not in ready.body.decode() and str(tmp_path) not in ready.body.decode()
        assert embedded.check() is True
        assert request(svc.port, "GET", "/healthz").status == 200
    finally:
        svc.stop()
    assert servers(tmp_path / "data") == []


def test_the_watchdog_thread_restarts_it_on_its_own(tmp_path: Path) -> None:
    embedded = EmbeddedRedis(tmp_path / "data")
    embedded.start()
    embedded.watch(interval_s=0.05)
    try:
        pid = embedded.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: embedded.restarts == 1 and embedded.alive(), what="the watchdog restarted it")
        assert servers(tmp_path / "data") == [embedded.pid]
    finally:
        embedded.stop()
    assert servers(tmp_path / "data") == []


def test_a_start_that_fails_after_redis_started_stops_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from focalpoint_upload import frontdoor

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the front door could not be built")

    monkeypatch.setattr(frontdoor, "make_server", broken)
    settings = service_settings(tmp_path, None, "fptest-failed-start")
    with pytest.raises(RuntimeError, match="could not be built"):
        RunningService(settings, with_workers=True)
    assert servers(tmp_path / "data") == []
    assert not (tmp_path / "data" / "redis" / "redis-server.pid").exists()
    again = EmbeddedRedis(tmp_path / "data")  # and the data directory is free again
    again.start()
    again.stop()


def test_uploads_work_again_after_the_embedded_redis_was_restarted(tmp_path: Path) -> None:
    from focalpoint_upload.gemini.emulator import EmulatorConfig, EmulatorServer
    from tests.e2e.test_pipeline import wait_state
    from tests.helpers.http import attempt_id, upload_raw

    with EmulatorServer(config=EmulatorConfig(api_key="emu-key", granularity=256 * 1024)) as emu:
        settings = service_settings(tmp_path, None, "fptest-restarted", gemini_base_url=emu.base_url,
                                    gemini_api_key=emu.api_key)
        svc = RunningService(settings, with_workers=True, watchdog_interval_s=3600)
        try:
            embedded = svc.service.embedded
            assert embedded is not None and embedded.pid is not None
            os.kill(embedded.pid, signal.SIGKILL)
            wait_for(lambda: not embedded.alive(), what="the server is seen dead")
            assert embedded.check() is True
            r = upload_raw(svc.port, 300 * 1024, attempt_id())
            assert r.status == 202, r.body
            assert wait_state(svc.port, r.json["jobId"], {"ACTIVE", "FAILED"}, timeout=60)["state"] == "ACTIVE"
        finally:
            svc.stop()
    assert servers(tmp_path / "data") == []


def test_a_data_directory_too_deep_for_a_socket_path_gets_a_private_temp_socket(tmp_path: Path) -> None:
    data = tmp_path / ("d" * 60) / ("e" * 60) / "data"
    embedded = EmbeddedRedis(data)
    c = client(embedded.start())
    try:
        socket_dir = Path(embedded.socket).parent
        assert len(embedded.socket) <= 100 and socket_dir != data / "redis"
        assert stat.S_IMODE(socket_dir.stat().st_mode) == 0o700
        assert c.ping()
    finally:
        c.close()
        embedded.stop()
    assert not socket_dir.exists() and servers(data) == []
