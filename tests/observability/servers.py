"""A Tornado application on 127.0.0.1 in a thread of its own, for tests that talk HTTP to a handler."""

from __future__ import annotations

import asyncio
import http.client
import threading
from typing import Any

import tornado.httpserver
import tornado.netutil
import tornado.web


class TornadoThread:
    def __init__(self, routes: list[Any]) -> None:
        self.routes = routes
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._server: tornado.httpserver.HTTPServer | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def start() -> None:
            app = tornado.web.Application(self.routes, log_function=lambda handler: None)
            self._server = tornado.httpserver.HTTPServer(app)
            sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
            self._server.add_sockets(sockets)
            self.port = sockets[0].getsockname()[1]

        self.loop.run_until_complete(start())
        self._ready.set()
        self.loop.run_forever()

    def __enter__(self) -> TornadoThread:
        self.thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            assert self._server is not None
            self._server.stop()
            await self._server.close_all_connections()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", path, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()
