"""Running the emulator: the Tornado application, an in-process server for tests, the blocking entry.

* :func:`make_app` builds the application around an :class:`Emulator`.
* :class:`EmulatorServer` serves it on 127.0.0.1 (port 0 by default) from a daemon thread with its own
  IOLoop; ``with EmulatorServer() as srv: srv.base_url, srv.emulator``.
* :func:`serve` runs for ever in the calling thread (the CLI's ``emulator`` command and
  ``python -m focalpoint_upload.gemini.emulator --port N``, which tests start as a subprocess to survive killed
  workers).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Protocol

import tornado.httpserver
import tornado.netutil
import tornado.web

from focalpoint_upload.gemini.emulator.control import Control
from focalpoint_upload.gemini.emulator.handlers import VERSIONS, FileHandler, ListHandler, NotFound
from focalpoint_upload.gemini.emulator.state import Emulator, EmulatorConfig
from focalpoint_upload.gemini.emulator.upload import UploadHandler

log = logging.getLogger(__name__)


def make_app(emulator: Emulator) -> tornado.web.Application:
    args = {"emulator": emulator}
    return tornado.web.Application(
        [
            (rf"/upload/{VERSIONS}/files", UploadHandler, args),
            (rf"/{VERSIONS}/files", ListHandler, args),
            (rf"/{VERSIONS}/files/([a-z0-9-]+)", FileHandler, args),
            (r"/_emulator/([a-z]+)", Control, args),
        ],
        default_handler_class=NotFound,
        default_handler_args=args,
        log_function=_log_request,
    )


def _log_request(handler: tornado.web.RequestHandler) -> None:
    """Tornado's access line without the query string (an upload URL's ``upload_id`` is a bearer capability);
    answered requests are chunk traffic, at DEBUG."""
    status = handler.get_status()
    level = logging.DEBUG if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    req = handler.request
    logging.getLogger("tornado.access").log(level, "%d %s %s (%s) %.2fms", status, req.method, req.path,
                                            req.remote_ip, 1000.0 * req.request_time())


def _listen(app: tornado.web.Application, host: str, port: int) -> tuple[tornado.httpserver.HTTPServer, int]:
    sockets = tornado.netutil.bind_sockets(port, address=host, family=socket.AF_INET)
    server = tornado.httpserver.HTTPServer(app, idle_connection_timeout=60)
    server.add_sockets(sockets)
    return server, sockets[0].getsockname()[1]


class EmulatorServer:
    """The emulator on its own IOLoop in a background thread. Starts in the constructor; ``stop()`` ends it.

    ``emulator`` may be shared (e.g. one built with a fake clock); otherwise one is made from ``config``.
    """

    def __init__(self, emulator: Emulator | None = None, *, config: EmulatorConfig | None = None,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = emulator or Emulator(config)
        self.host = host
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.port = port
        self._thread = threading.Thread(target=self._run, name="gemini-emulator", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise RuntimeError("the emulator did not start") from self._error

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_key(self) -> str:
        return self.emulator.config.api_key

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        try:
            server, self.port = _listen(make_app(self.emulator), self.host, self.port)
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        server.stop()
        await server.close_all_connections()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def __enter__(self) -> EmulatorServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


class StopSource(Protocol):
    """Where a stop request comes from (``focalpoint_upload.lifecycle.StopSignals`` is one)."""

    def attach(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None: ...

    def detach(self, loop: asyncio.AbstractEventLoop) -> None: ...


class _Signals:
    """SIGTERM and SIGINT stop the server cleanly."""

    def attach(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, callback)

    def detach(self, loop: asyncio.AbstractEventLoop) -> None:
        pass  # the loop resets them when it closes, after the server has stopped


def serve(host: str = "127.0.0.1", port: int = 8099, api_key: str = "emulator-key", *,
          config: EmulatorConfig | None = None, on_ready: Callable[[int], None] | None = None,
          stop: StopSource | None = None) -> None:
    """Serve the emulator until ``stop`` (default: SIGTERM or SIGINT) asks to stop, then return.
    ``on_ready(port)`` runs once listening, with the stop already hooked up (with ``port=0`` that is how a
    caller learns the port)."""
    cfg = config or EmulatorConfig()
    cfg.api_key = api_key
    source = stop or _Signals()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        source.attach(loop, stopping.set)
        try:
            server, bound = _listen(make_app(Emulator(cfg)), host, port)
            log.info("gemini emulator listening on http://%s:%d", host, bound)
            if on_ready is not None and not stopping.is_set():
                on_ready(bound)
            await stopping.wait()
            server.stop()
            await server.close_all_connections()
        finally:
            source.detach(loop)

    asyncio.run(main())
