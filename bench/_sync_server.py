"""The old design, as a baseline: a Tornado handler that answers only once Gemini says ACTIVE.

    python bench/_sync_server.py --dir D --gemini-url URL [--api-key K] [--poll-interval 1.0]

Prints ``LISTENING <port>``. ``POST /upload`` (raw body): stream the body to a spool file (``os.write`` in
the IOLoop), fsync it, then, still inside the request, upload it with the google-genai SDK's ``files.upload``
(in a thread) and poll ``files.get`` every ``--poll-interval`` seconds until the file is ACTIVE, then answer
200 with the file and the time spent in each step. The spool file is deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import sys
import time
import uuid
from pathlib import Path

import tornado.httpserver
import tornado.netutil
import tornado.web
from google import genai
from google.genai import types


@tornado.web.stream_request_body
class SyncUpload(tornado.web.RequestHandler):
    def initialize(self, client: genai.Client, directory: Path, poll_s: float) -> None:
        self.client, self.directory, self.poll_s = client, directory, poll_s

    def prepare(self) -> None:
        self.request.connection.set_max_body_size(3 * 2**30)  # type: ignore[union-attr]
        self.path = self.directory / uuid.uuid4().hex
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)

    def data_received(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        while view:
            view = view[os.write(self.fd, view):]

    async def post(self) -> None:
        loop = asyncio.get_running_loop()
        t0 = time.monotonic()
        try:
            await loop.run_in_executor(None, self._commit)
            t1 = time.monotonic()
            mime = self.request.headers.get("Content-Type", "application/octet-stream")
            f = await loop.run_in_executor(None, lambda: self.client.files.upload(
                file=str(self.path), config={"mime_type": mime}))
            t2 = time.monotonic()
            polls = 0
            while f.state != types.FileState.ACTIVE:
                if f.state == types.FileState.FAILED:
                    raise tornado.web.HTTPError(502, "Gemini could not process the file")
                await asyncio.sleep(self.poll_s)
                polls += 1
                f = await loop.run_in_executor(None, functools.partial(self.client.files.get, name=f.name or ""))
            t3 = time.monotonic()
        finally:
            self.path.unlink(missing_ok=True)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"name": f.name, "state": str(f.state), "fsync_ms": (t1 - t0) * 1000,
                                "gemini_upload_ms": (t2 - t1) * 1000, "processing_wait_ms": (t3 - t2) * 1000,
                                "polls": polls}))

    def _commit(self) -> None:
        os.fsync(self.fd)
        os.close(self.fd)

    def on_connection_close(self) -> None:
        self.path.unlink(missing_ok=True)


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--gemini-url", required=True)
    p.add_argument("--api-key", default="bench-key")
    p.add_argument("--poll-interval", type=float, default=1.0)
    a = p.parse_args()
    client = genai.Client(api_key=a.api_key, http_options=types.HttpOptions(
        base_url=a.gemini_url, api_version="v1beta", timeout=600_000))
    directory = Path(a.dir)
    directory.mkdir(parents=True, exist_ok=True)
    app = tornado.web.Application([(r"/upload", SyncUpload, {"client": client, "directory": directory,
                                                             "poll_s": a.poll_interval})])
    server = tornado.httpserver.HTTPServer(app, idle_connection_timeout=600)
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server.add_sockets(sockets)
    print(f"LISTENING {sockets[0].getsockname()[1]}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
