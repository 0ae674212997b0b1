"""The browser page (``static/``) served by the front door at ``/``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import tornado.web

from focalpoint_upload.frontdoor.context import Frontdoor


def static_dir() -> Path:
    return Path(str(resources.files("focalpoint_upload.static")))


class PageHandler(tornado.web.StaticFileHandler):
    def set_extra_headers(self, path: str) -> None:
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Content-Type-Options", "nosniff")


def page_routes(fd: Frontdoor) -> list[Any]:
    root = str(static_dir())
    return [
        (r"/()", PageHandler, {"path": root, "default_filename": "index.html"}),
        (r"/static/(.*)", PageHandler, {"path": root}),
    ]
