"""The one settings object of focalpoint-upload.

``load_settings(environ, overrides)`` is the only place that reads the environment; everything else is
handed the frozen :class:`Settings` it returns.
"""

from focalpoint_upload.config.errors import ConfigError
from focalpoint_upload.config.settings import Settings, load_settings

__all__ = ["ConfigError", "Settings", "load_settings"]
