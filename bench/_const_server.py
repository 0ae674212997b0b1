"""Baseline for the status endpoint: a bare Tornado handler that returns a constant JSON document.

    python bench/_const_server.py     (prints ``LISTENING <port>``; serves GET /api/upload/status)

No limiter, no Redis, no thread pool: what Tornado alone costs per request on this machine.
"""

from __future__ import annotations

import asyncio
import json

import tornado.httpserver
import tornado.netutil
import tornado.web

BODY = json.dumps({"jobId": "j" * 26, "state": "PROCESSING", "progress": {"bytesReceived": 1, "bytesUploaded": 1}},
                  separators=(",", ":"))


class Const(tornado.web.RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.write(BODY)


async def main() -> None:
    app = tornado.web.Application([(r"/api/upload/status", Const)], log_function=lambda handler: None)
    server = tornado.httpserver.HTTPServer(app)
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server.add_sockets(sockets)
    print(f"LISTENING {sockets[0].getsockname()[1]}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
