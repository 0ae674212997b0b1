"""Parsers for the textual values of environment variables.

Each parser takes the variable's name (for the error message) and its raw text, and either returns the typed
value or raises :class:`ConfigError` saying what is wrong and what a good value looks like.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from focalpoint_upload.config.errors import ConfigError

T = TypeVar("T")

_SIZE_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def size(name: str, raw: str) -> int:
    """``"2GiB"``, ``"500MB"``, ``"1048576"`` -> bytes (binary and decimal units)."""
    m = _SIZE_RE.match(raw)
    unit = m.group(2).lower() if m else ""
    if not m or unit not in _SIZE_UNITS:
        raise ConfigError(name, f"{raw!r} is not a size", "2GiB")
    return int(float(m.group(1)) * _SIZE_UNITS[unit])


def duration(name: str, raw: str) -> float:
    """``"30s"``, ``"15m"``, ``"7d"``, ``"250ms"``, ``"12"`` (seconds) -> seconds."""
    m = _DURATION_RE.match(raw.lower())
    if not m or m.group(2) not in _DURATION_UNITS:
        raise ConfigError(name, f"{raw!r} is not a duration", "30s")
    return float(m.group(1)) * _DURATION_UNITS[m.group(2)]


def integer(name: str, raw: str, *, minimum: int = 0) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(name, f"{raw!r} is not a whole number", str(max(minimum, 1))) from None
    if value < minimum:
        raise ConfigError(name, f"{value} is below the minimum {minimum}", str(max(minimum, 1)))
    return value


def boolean(name: str, raw: str) -> bool:
    text = raw.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(name, f"{raw!r} is not a yes/no value", "true")


def choice(name: str, raw: str, options: tuple[str, ...]) -> str:
    text = raw.strip().lower()
    if text not in options:
        raise ConfigError(name, f"{raw!r} is not one of {', '.join(options)}", options[0])
    return text


def csv(name: str, raw: str, item: Callable[[str, str], T]) -> tuple[T, ...]:
    return tuple(item(name, part.strip()) for part in raw.split(",") if part.strip())


def media_pattern(name: str, raw: str) -> str:
    """A media type or a ``type/*`` wildcard, lower-cased."""
    text = raw.strip().lower()
    if not re.fullmatch(r"[a-z0-9][a-z0-9.+-]*/(\*|[a-z0-9][a-z0-9.+-]*)", text):
        raise ConfigError(name, f"{raw!r} is not a media type or type/* pattern", "video/*,application/pdf")
    return text


def network(name: str, raw: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(raw.strip(), strict=False)
    except ValueError:
        raise ConfigError(name, f"{raw!r} is not an IP address or network", "127.0.0.1,10.0.0.0/8") from None


def rate(name: str, raw: str) -> str:
    """One rate limit in the `limits` notation, checked by `limits` itself (``"60/minute"``)."""
    from limits import parse_many  # local: config must not pay for importing limits at import time

    try:
        rates = parse_many(raw)
    except ValueError:
        raise ConfigError(name, f"{raw!r} is not a rate limit", "60/minute") from None
    if len(rates) != 1:
        raise ConfigError(name, f"{raw!r} names {len(rates)} rates; give exactly one", "60/minute")
    return raw.strip()


def path(name: str, raw: str) -> Path:
    """An absolute path (relative ones are taken from the working directory at start-up: job records store
    spool paths, and a worker started elsewhere must find them)."""
    if not raw.strip():
        raise ConfigError(name, "is empty", "/var/lib/focalpoint")
    return Path(raw.strip()).expanduser().absolute()


def redis_url(name: str, raw: str) -> str:
    text = raw.strip()
    if not re.match(r"^(redis|rediss|unix)://", text):
        raise ConfigError(name, f"{raw!r} is not a redis://, rediss:// or unix:// URL", "redis://127.0.0.1:6379/0")
    return text


def http_url(name: str, raw: str) -> str:
    text = raw.strip().rstrip("/")
    if not re.match(r"^https?://[^/\s]+", text):
        raise ConfigError(name, f"{raw!r} is not an http(s) URL", "http://127.0.0.1:8090")
    return text


def public_key(name: str, raw: str) -> str:
    """A PEM public key (RSA, or EC on P-256), given as PEM text or as the path of a PEM file -> PEM text."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa  # local: no crypto import at import time
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    text = raw.strip()
    if not text.startswith("-----BEGIN"):
        try:
            text = Path(text).expanduser().read_text().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(name, f"is neither PEM text nor a readable PEM file ({exc})", "/etc/focalpoint/app.pem") \
                from None
    try:
        key = load_pem_public_key(text.encode())
    except ValueError:
        raise ConfigError(name, "is not a PEM public key", "/etc/focalpoint/app.pem") from None
    if not (isinstance(key, rsa.RSAPublicKey) or (isinstance(key, ec.EllipticCurvePublicKey)
                                                  and isinstance(key.curve, ec.SECP256R1))):
        raise ConfigError(name, "must be an RSA key (RS256) or an EC P-256 key (ES256)", "/etc/focalpoint/app.pem")
    return text
