"""``/_emulator/...``: the HTTP face of the Python control API, for tests driving an emulator process.

No API key; never expose an emulator beyond loopback.

``GET  /_emulator/health``     ``{"ok": true}`` (readiness probe)
``POST /_emulator/faults``     add a fault: ``{"kind": ..., "routes": ..., <parameters>}`` -> the fault
``GET  /_emulator/faults``     ``{"faults": [...], "counts": {kind: fired}}``
``DELETE /_emulator/faults``   remove all faults
``GET  /_emulator/log``        ``{"log": [entries]}``
``POST /_emulator/reset``      forget files, sessions, faults, log and clock skew
``POST /_emulator/config``     change settings, e.g. ``{"processing_delay_s": 0.2, "granularity": 1024}``
``POST /_emulator/advance``    ``{"seconds": 172800}`` moves the emulator's clock
``POST /_emulator/expire``     ``{"upload_id": ...}`` (or ``{}`` for every active session) -> ``{"expired": n}``
``POST /_emulator/processing`` ``{"name": "files/x", "state": "ACTIVE|FAILED|PROCESSING", "error": {...}}``
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import tornado.web

from focalpoint_upload.gemini.emulator.state import Emulator


class Control(tornado.web.RequestHandler):
    def initialize(self, emulator: Emulator) -> None:
        self.em = emulator

    def body(self) -> dict[str, Any]:
        raw = self.request.body.strip()
        data = json.loads(raw) if raw else {}
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        return data

    def send(self, data: dict[str, Any], status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(data))

    def run(self, action: str) -> None:
        try:
            self.send(self.dispatch(action))
        except (ValueError, KeyError, TypeError) as exc:
            self.send({"error": f"{type(exc).__name__}: {exc}"}, 400)

    def get(self, action: str) -> None:
        self.run("GET " + action)

    def post(self, action: str) -> None:
        self.run("POST " + action)

    def delete(self, action: str) -> None:
        self.run("DELETE " + action)

    def dispatch(self, action: str) -> dict[str, Any]:
        em = self.em
        if action == "GET health":
            return {"ok": True}
        if action == "POST faults":
            params = self.body()
            return em.add_fault(params.pop("kind"), params.pop("routes", None), **params).to_json()
        if action == "GET faults":
            with em.lock:
                return {"faults": [f.to_json() for f in em.faults.faults], "counts": em.faults.counts()}
        if action == "DELETE faults":
            em.clear_faults()
            return {}
        if action == "GET log":
            return {"log": em.log()}
        if action == "POST reset":
            em.reset()
            return {}
        if action == "POST config":
            em.configure(**self.body())
            return asdict(em.config)
        if action == "POST advance":
            em.advance(float(self.body()["seconds"]))
            return {"now": em.now()}
        if action == "POST expire":
            return {"expired": em.expire_session(self.body().get("upload_id"))}
        if action == "POST processing":
            body = self.body()
            err = body.get("error")
            em.set_processing(body["name"], body["state"], (int(err["code"]), str(err["message"])) if err else None)
            return {}
        raise KeyError(f"no control action {action!r}")
