"""The base handler: request ids, auth, JSON bodies, and the one place where errors are rendered.

Auth: every handler that sets ``requires_auth`` (the default) gets its :attr:`BaseHandler.principal` in
``prepare``, before any body byte is read; a handler that overrides ``prepare`` calls :meth:`authenticate`
first thing. A request without an acceptable token is answered 401 there and then.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable
from typing import Any

import tornado.web

from focalpoint_upload.frontdoor.auth import AuthError, Principal
from focalpoint_upload.frontdoor.context import Frontdoor
from focalpoint_upload.frontdoor.errors import ApiError, method_not_allowed, unavailable
from focalpoint_upload.jobs import StoreUnavailable

log = logging.getLogger("focalpoint.frontdoor")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class BaseHandler(tornado.web.RequestHandler):
    """Every API handler. A method the handler does not implement (or one Tornado does not know) is a JSON 405
    with ``Allow``, rendered like every other error: handlers only define the methods they serve."""

    fd: Frontdoor
    requires_auth = True  # False only for what anyone may see (the published limits, 404s)

    def initialize(self, fd: Frontdoor) -> None:
        self.fd = fd
        self._principal: Principal | None = None
        self.started = time.monotonic()
        given = self.request.headers.get("X-Request-Id", "")
        self.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        self.set_header("X-Request-Id", self.request_id)

    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")

    def prepare(self) -> Awaitable[None] | None:
        if self.requires_auth:
            self.authenticate()
        return None

    def authenticate(self) -> Principal:
        """Set :attr:`principal` from the ``Authorization`` header, or raise the 401 (an :class:`ApiError`)."""
        try:
            self._principal = self.fd.auth.principal_for(self.request.headers.get("Authorization"), self.fd.clock())
        except AuthError as exc:
            raise ApiError(401, exc.code, exc.description, headers={"WWW-Authenticate": exc.challenge()}) from None
        return self._principal

    @property
    def principal(self) -> Principal:
        """Who is asking (``.key``: the owner key of jobs and limiter keys). Set by :meth:`authenticate`."""
        if self._principal is None:
            raise RuntimeError("authenticate() has not run for this request")
        return self._principal

    def upload_limit(self) -> int:
        """The largest file this request may upload: the setting, or the token's ``max_bytes`` if smaller."""
        cap = self.fd.settings.max_upload_bytes
        principal = self._principal
        return min(cap, principal.max_bytes) if principal is not None and principal.max_bytes else cap

    def write_json(self, status: int, body: dict[str, Any]) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(body, separators=(",", ":")))

    def send_api_error(self, error: ApiError) -> None:
        """Render ``error`` on a clean slate (headers set so far are dropped)."""
        self.clear()
        self.set_header("X-Request-Id", self.request_id)
        self._render(error)

    def answer_refusal(self, error: ApiError) -> None:
        """Render ``error`` keeping the headers set so far, without raising: for a hot-path refusal (a poll over
        its limit), where Tornado's exception path and re-clearing the headers cost a tenth of the answer."""
        self._render(error)

    def _render(self, error: ApiError) -> None:
        """The only place an error body is written."""
        for name, value in error.headers.items():
            self.set_header(name, value)
        self.write_json(error.status, error.body())

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, ApiError):
            error = exc
        elif isinstance(exc, StoreUnavailable):
            log.error("store_unavailable", extra={"fields": {"requestId": self.request_id, "error": str(exc)}})
            error = unavailable("The job store is unreachable; try again shortly.")
        elif isinstance(exc, tornado.web.HTTPError) and exc.status_code == 405:
            error = method_not_allowed(self.request.method or "", self.allowed_methods())
        elif isinstance(exc, tornado.web.HTTPError):
            error = ApiError(exc.status_code, _http_code(exc.status_code), exc.log_message or self._reason)
        else:
            error = ApiError(500, "internal", "Something went wrong on our side; it has been logged.")
        self.send_api_error(error)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, ApiError):
            return  # expected outcomes, logged by the access line
        if isinstance(value, StoreUnavailable):
            return  # logged in write_error without a stack
        super().log_exception(typ, value, tb)

    @classmethod
    def allowed_methods(cls) -> tuple[str, ...]:
        """The methods this handler implements (what ``Allow`` lists on a 405)."""
        unimplemented = tornado.web.RequestHandler.get  # Tornado's stub that raises HTTPError(405)
        return tuple(m for m in cls.SUPPORTED_METHODS if getattr(cls, m.lower(), unimplemented) is not unimplemented)

    def method_allowed(self) -> bool:
        return (self.request.method or "") in self.allowed_methods()

    def client_ip(self) -> str:
        """The client's address: the socket peer, or what a trusted proxy says (FOCALPOINT_TRUSTED_PROXIES)."""
        peer = self.request.remote_ip or ""
        limits = self.fd.limits
        return limits.client_ip(peer, self.request.headers) if limits is not None else peer


def _http_code(status: int) -> str:
    return {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
        status, f"http_{status}")


class NotFoundHandler(BaseHandler):
    requires_auth = False

    def prepare(self) -> None:
        raise ApiError(404, "not_found", f"No route for {self.request.method} {self.request.path}.")
