"""A faithful local emulator of Google's Gemini Files API (resumable uploads, files.get/list/delete),
with fault injection, for tests and for running the service without Google.

Import cost is only Tornado; nothing runs at import time.
"""

from focalpoint_upload.gemini.emulator.faults import KINDS, ROUTES, Fault
from focalpoint_upload.gemini.emulator.records import ApiError, EmulatorConfig, LogEntry
from focalpoint_upload.gemini.emulator.server import EmulatorServer, make_app, serve
from focalpoint_upload.gemini.emulator.state import Emulator

__all__ = [
    "KINDS", "ROUTES", "ApiError", "Emulator", "EmulatorConfig", "EmulatorServer", "Fault", "LogEntry",
    "make_app", "serve",
]
