"""The Tornado application and HTTP server of the front door."""

from __future__ import annotations

from typing import Any

import tornado.httpserver
import tornado.web

from focalpoint_upload.frontdoor.base import NotFoundHandler
from focalpoint_upload.frontdoor.context import Frontdoor
from focalpoint_upload.frontdoor.status import CancelHandler, ConfigHandler, RetryHandler, StatusHandler
from focalpoint_upload.frontdoor.upload import UploadHandler


def make_app(fd: Frontdoor, extra_routes: list[Any] | None = None) -> tornado.web.Application:
    args = {"fd": fd}
    routes: list[Any] = [
        (r"/api/upload", UploadHandler, args),
        (r"/api/upload/status", StatusHandler, args),
        (r"/api/upload/config", ConfigHandler, args),
        (r"/api/upload/([A-Za-z0-9_-]{1,64})", CancelHandler, args),
        (r"/api/upload/([A-Za-z0-9_-]{1,64})/retry", RetryHandler, args),
        *(extra_routes or []),
    ]
    return tornado.web.Application(
        routes,
        default_handler_class=NotFoundHandler,
        default_handler_args=args,
        log_function=lambda handler: None,  # our handlers write their own structured lines
    )


def make_server(app: tornado.web.Application) -> tornado.httpserver.HTTPServer:
    # No body_timeout: a 2 GiB upload on a slow line takes long; a stalled one is cut by the idle timer.
    # 512 KiB reads: Tornado's 64 KiB default costs a quarter of the ingest speed (field notes: 41 % -> 55 % of
    # the loopback limit); 1 MiB was no faster here and took the peak RSS over 64 MiB (bench/ingest_throughput).
    return tornado.httpserver.HTTPServer(app, xheaders=False, idle_connection_timeout=75, chunk_size=512 * 1024)
