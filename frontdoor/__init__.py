"""The front door: Tornado handlers that spool uploads and report job status."""

from focalpoint_upload.frontdoor.app import make_app, make_server
from focalpoint_upload.frontdoor.context import Dispatcher, Frontdoor

__all__ = ["Dispatcher", "Frontdoor", "make_app", "make_server"]
