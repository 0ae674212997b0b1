"""Shared fixtures: a real Redis (required in CI), a unique key namespace per test, a settable clock."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

REDIS_URL = os.environ.get("FOCALPOINT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if a redis-server it started is still alive (and end those, so none stays behind).

    "It started" = the server works in this run's temp tree (redis-server sets its working directory to its
    ``dir``; every test's server has it under ``tmp_path``). Other runs on the machine have their own tree.
    (Redis overwrites its environment with its process title, so an environment marker would not do.)"""
    from focalpoint_upload import procfs

    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None:
        return
    left = procfs.redis_servers(under=factory.getbasetemp())
    if not left:
        return
    details = [f"pid {pid} in {procfs.cwd(pid) or '?'}" for pid in left]
    for pid in left:
        procfs.terminate(pid, timeout_s=5)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    message = f"{len(left)} redis-server(s) started by this test run outlived it: " + "; ".join(details)
    if reporter is not None:
        reporter.line("")
        reporter.write_sep("=", "LEFT BEHIND", red=True)
        reporter.write_line(message)
    else:
        print(message)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def require(reason: str) -> None:
    """A missing real dependency fails the test in CI and skips it elsewhere."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: tests needing it must not be skipped)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_url() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        require(f"no Redis at {REDIS_URL}: {exc}")
    return REDIS_URL


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def namespace(redis_client: redis.Redis) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    ns = f"fptest-{uuid.uuid4().hex[:12]}"
    yield ns
    keys = list(redis_client.scan_iter(match=f"{ns}*", count=1000))
    if keys:
        redis_client.delete(*keys)


class FakeClock:
    """A clock the test moves by hand (``advance``); never sleep to let time pass."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emulator_config() -> Any:
    """The emulator's configuration; a directory's conftest overrides it (tests/gemini: tiny chunks)."""
    from focalpoint_upload.gemini.emulator import EmulatorConfig

    return EmulatorConfig(api_key="emu-key", granularity=256 * 1024)


@pytest.fixture
def emulator_clock() -> Callable[[], float]:
    """The emulator's clock: real time for tests with real workers; tests/gemini gives it the FakeClock."""
    return time.time


@pytest.fixture
def emulator(emulator_config: Any, emulator_clock: Callable[[], float]) -> Iterator[Any]:
    """The one Gemini emulator fixture: an in-process ``EmulatorServer`` (its state is ``.emulator``)."""
    from focalpoint_upload.gemini.emulator import Emulator, EmulatorServer

    with EmulatorServer(Emulator(emulator_config, clock=emulator_clock)) as srv:
        yield srv


@pytest.fixture
def make_service(tmp_path: Path, redis_url: str, namespace: str) -> Iterator[Callable[..., Any]]:
    """Start the real service (in-process, real sockets, the test's Redis namespace); stopped afterwards."""
    from tests.helpers.service import RunningService, service_settings

    running: list[RunningService] = []

    def make(with_workers: bool = False, **overrides: Any) -> RunningService:
        svc = RunningService(service_settings(tmp_path, redis_url, namespace, **overrides), with_workers=with_workers)
        running.append(svc)
        return svc

    yield make
    for svc in running:
        svc.stop()


@pytest.fixture
def service(make_service: Callable[..., Any]) -> Any:
    return make_service()


class Backend:
    """Builds the job-store side ports on one backend: ``redis`` (the real adapters, on this test's namespace)
    or ``memory`` (their in-memory twins). The contract suites run every test on both, so a twin cannot drift
    from its adapter; tests that only read state through the ports run on both for free."""

    def __init__(self, kind: str, clock: FakeClock, client: redis.Redis | None = None, namespace: str = "") -> None:
        self.kind, self.clock, self.client, self.namespace = kind, clock, client, namespace

    def store(self, on_transition: Any = None, final_ttl_s: float = 3600) -> Any:
        from focalpoint_upload.jobs.memory import MemoryJobStore
        from focalpoint_upload.jobs.store import RedisJobStore

        if self.client is None:
            return MemoryJobStore(self.clock, final_ttl_s, on_transition=on_transition)
        return RedisJobStore(self.client, self.namespace, self.clock, final_ttl_s, on_transition=on_transition)

    def budget(self, budget: int, file_ttl_s: float = 0.0) -> Any:
        from focalpoint_upload.jobs.memory_storage import MemoryStorageBudget
        from focalpoint_upload.jobs.storage import RedisStorageBudget

        if self.client is None:
            return MemoryStorageBudget(budget, file_ttl_s)
        return RedisStorageBudget(self.client, self.namespace, budget, file_ttl_s)

    def outbox(self, keep_s: float = 2 * 86400) -> Any:
        from focalpoint_upload.jobs.memory_outbox import MemoryOutbox
        from focalpoint_upload.jobs.outbox import Outbox

        if self.client is None:
            return MemoryOutbox(self.clock)
        return Outbox(self.client, self.namespace, self.clock, keep_s)

    def leases(self, ttl_s: float) -> Any:
        from focalpoint_upload.jobs.lease import Leases, MemoryLeases

        if self.client is None:
            return MemoryLeases(ttl_s, self.clock)
        return Leases(self.client, self.namespace, ttl_s)


@pytest.fixture(params=["redis", "memory"])
def backend(request: pytest.FixtureRequest, clock: FakeClock) -> Backend:
    """Each test that takes it runs twice: on the Redis adapters and on their in-memory twins."""
    if request.param == "memory":
        return Backend("memory", clock)
    return Backend("redis", clock, request.getfixturevalue("redis_client"), request.getfixturevalue("namespace"))
