"""A faithful local emulator of Google's Gemini Files API (resumable uploads, files.get/list/delete),
with fault injection, for tests and for running the service without Google.

Import cost is only Tornado; nothing runs at import time.
"""

from gemini.emulator.faults import KINDS, ROUTES, Fault
from gemini.emulator.records import ApiError, EmulatorConfig, LogEntry
from gemini.emulator.server import EmulatorServer, make_app, serve
from gemini.emulator.state import Emulator

__all__ = [
    "KINDS", "ROUTES", "ApiError", "Emulator", "EmulatorConfig", "EmulatorServer", "Fault", "LogEntry",
    "make_app", "serve",
]
