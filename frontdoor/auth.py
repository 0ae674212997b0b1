"""Who is asking: the :class:`Principal` of a request, from the bearer token FocalPoint's app signed.

Tokens are JWTs (RFC 7519) verified with PyJWT: HS256 with ``FOCALPOINT_AUTH_SECRET``, or RS256/ES256 with
``FOCALPOINT_AUTH_PUBLIC_KEY``. Claims: ``sub`` (the user) and ``exp`` are required; ``aud``, when present, must
be ``focalpoint-upload``; ``max_bytes``, when present, caps the size of this token's uploads.

:func:`verify` is pure (the time is passed in) and raises :class:`AuthError` carrying the RFC 6750 error and a
client-safe description. With no secret and no key auth is off and every request is :data:`ANONYMOUS`.
The base handler runs :meth:`Authenticator.principal_for` once per request, before any body byte is read.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import jwt

from focalpoint_upload.config import Settings
from focalpoint_upload.jobs.record import ANONYMOUS_OWNER

AUDIENCE = "focalpoint-upload"
LEEWAY_S = 30.0  # clock skew allowed between FocalPoint's app and us
MAX_SUBJECT = 256
_ASYMMETRIC = ("RS256", "ES256")


@dataclass(frozen=True)
class Principal:
    """The owner of what a request touches.

    ``key`` is the owner's stable id in job records, Redis keys and limiter keys: ``"anonymous"`` when auth is
    off, else ``"u:"`` + the percent-encoded ``sub`` (so it holds no ``:``, ``/`` or control characters, and no
    user can ever be the anonymous owner). ``max_bytes`` is the token's own upload cap, if it has one.
    """

    key: str
    subject: str | None = None
    max_bytes: int | None = None

    @property
    def anonymous(self) -> bool:
        return self.key == ANONYMOUS_OWNER

    @property
    def limit_owner(self) -> str | None:
        """The owner as the rate limiter keys it: None for the anonymous principal (it is keyed by IP alone)."""
        return None if self.anonymous else self.key

    @classmethod
    def user(cls, subject: str, max_bytes: int | None = None) -> Principal:
        return cls(key="u:" + quote(subject, safe=""), subject=subject, max_bytes=max_bytes)


ANONYMOUS = Principal(key=ANONYMOUS_OWNER)


class AuthError(Exception):
    """A request's credentials are missing or unacceptable (always a 401).

    ``error`` is the RFC 6750 error value for ``WWW-Authenticate`` (None when the request had no bearer token
    at all: RFC 6750 3.1 says not to give one then), ``code`` our stable API code, ``description`` what went
    wrong, safe to show (it never echoes the token).
    """

    def __init__(self, code: str, description: str, error: str | None = "invalid_token") -> None:
        super().__init__(description)
        self.code = code
        self.error = error
        self.description = description

    def challenge(self) -> str:
        """The ``WWW-Authenticate`` header value."""
        parts = [f'realm="{AUDIENCE}"']
        if self.error is not None:
            parts += [f'error="{self.error}"', f'error_description="{self.description}"']
        return "Bearer " + ", ".join(parts)


@dataclass(frozen=True)
class Keys:
    """What tokens may be signed with: the HS256 secret and/or one public key (RS256 or ES256, by its type)."""

    secret: str | None = None
    public_key: Any = None  # a cryptography public key object
    public_alg: str | None = None

    @classmethod
    def from_pem(cls, secret: str | None, pem: str | None) -> Keys:
        if pem is None:
            return cls(secret=secret)
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        key = load_pem_public_key(pem.encode())
        return cls(secret=secret, public_key=key, public_alg="RS256" if isinstance(key, rsa.RSAPublicKey) else "ES256")

    def for_alg(self, alg: str) -> Any:
        # One key per algorithm, chosen by us: a token cannot make us verify an HS256 MAC with the public key.
        if alg == "HS256" and self.secret:
            return self.secret
        if alg in _ASYMMETRIC and alg == self.public_alg:
            return self.public_key
        return None


def verify(token: str, keys: Keys, now: float) -> Principal:
    """The principal of ``token`` at time ``now`` (epoch seconds), or :class:`AuthError`."""
    try:
        alg = jwt.get_unverified_header(token).get("alg")
    except jwt.InvalidTokenError:
        raise AuthError("invalid_token", "The bearer token is not a JWT.") from None
    key = keys.for_alg(alg) if isinstance(alg, str) else None
    if key is None or not isinstance(alg, str):
        raise AuthError("invalid_token", "The token is signed with an algorithm or key this service does not accept.")
    try:
        # Times and the audience are checked below against ``now``: PyJWT would read the wall clock itself.
        claims: dict[str, Any] = jwt.decode(token, key, algorithms=[alg], options={
            "require": ["sub", "exp"], "verify_exp": False, "verify_nbf": False, "verify_iat": False,
            "verify_aud": False})
    except jwt.MissingRequiredClaimError as exc:
        raise AuthError("invalid_token", f"The token has no {exc.claim!r} claim.") from None
    except jwt.InvalidSignatureError:
        raise AuthError("invalid_token", "The token's signature does not verify.") from None
    except jwt.InvalidTokenError:
        raise AuthError("invalid_token", "The token is malformed.") from None
    return _principal(claims, now)


def _principal(claims: dict[str, Any], now: float) -> Principal:
    exp = claims["exp"]
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise AuthError("invalid_token", "The token's exp claim is not a number.")
    if exp <= now - LEEWAY_S:
        raise AuthError("token_expired", "The token has expired.")
    nbf = claims.get("nbf")
    if isinstance(nbf, int | float) and nbf > now + LEEWAY_S:
        raise AuthError("invalid_token", "The token is not valid yet.")
    aud = claims.get("aud")
    if aud is not None and aud != AUDIENCE and not (isinstance(aud, list) and AUDIENCE in aud):
        raise AuthError("invalid_token", f"The token is not meant for {AUDIENCE} (its aud claim).")
    sub = claims["sub"]
    if not isinstance(sub, str) or not 0 < len(sub) <= MAX_SUBJECT or not sub.isprintable():
        raise AuthError("invalid_token", f"The token's sub claim must be 1-{MAX_SUBJECT} printable characters.")
    max_bytes = claims.get("max_bytes")
    if max_bytes is not None and (not isinstance(max_bytes, int) or isinstance(max_bytes, bool) or max_bytes < 1):
        raise AuthError("invalid_token", "The token's max_bytes claim must be a positive whole number.")
    return Principal.user(sub, max_bytes)


class Authenticator:
    """The front door's auth: the principal of a request's ``Authorization`` header under the settings."""

    def __init__(self, keys: Keys | None) -> None:
        self.keys = keys  # None: auth is off

    @classmethod
    def from_settings(cls, settings: Settings) -> Authenticator:
        if not settings.auth_enabled:
            return cls(None)
        return cls(Keys.from_pem(settings.auth_secret, settings.auth_public_key))

    @property
    def enabled(self) -> bool:
        return self.keys is not None

    def principal_for(self, authorization: str | None, now: float) -> Principal:
        if self.keys is None:
            return ANONYMOUS
        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer":
            raise AuthError("auth_required", "This service needs a bearer token (Authorization: Bearer <JWT>).",
                            error=None)
        return verify(token.strip(), self.keys, now)


def mint(secret: str, subject: str, ttl_s: float, now: float, max_bytes: int | None = None) -> str:
    """An HS256 token for ``subject``, valid ``ttl_s`` from ``now`` (what ``focalpoint-upload token`` prints)."""
    claims: dict[str, Any] = {"sub": subject, "aud": AUDIENCE, "iat": int(now), "exp": int(now + ttl_s)}
    if max_bytes is not None:
        claims["max_bytes"] = max_bytes
    return jwt.encode(claims, secret, algorithm="HS256")


def loopback(host: str) -> bool:
    """True when ``host`` (FOCALPOINT_HOST) only accepts connections from this machine."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve to anything


def exposure_problem(settings: Settings) -> str | None:
    """Why ``serve`` must not start: auth off on an address others can reach, without FOCALPOINT_AUTH=none."""
    if settings.auth_enabled or settings.auth_mode == "none" or loopback(settings.host):
        return None
    return (f"refusing to listen on {settings.host} without auth: set FOCALPOINT_AUTH_SECRET or "
            "FOCALPOINT_AUTH_PUBLIC_KEY, or FOCALPOINT_AUTH=none to serve anonymous uploads to the network")
