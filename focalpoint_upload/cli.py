"""``focalpoint-upload``: the one console script (serve, worker, emulator, settings, token, ...).

This is the only module that reads ``os.environ``: it builds the settings once and passes them down.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, NoReturn

from focalpoint_upload.config import ConfigError, Settings, load_settings
from focalpoint_upload.logs import setup_logging

if TYPE_CHECKING:
    from focalpoint_upload.lifecycle import StopSignals

# The Gemini emulator is a development and test tool, outside the production import graph: the wheel does not
# ship it (pyproject's packages), only a development install (./dev, pip install -e) has it, and this module
# looks it up by name in _emulator() only when `serve --emulate-gemini` or `emulator` asks for it.
EMULATOR = "focalpoint_upload.gemini.emulator"
BANNER = """
==============================================================================
  GEMINI EMULATOR MODE: uploads go to a local emulator of the Gemini Files API,
  not to Google. Files are kept in memory and vanish when this process stops.
  For trying the service only. Set GEMINI_API_KEY to talk to the real Gemini.
==============================================================================
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="focalpoint-upload", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the front door (and, with no REDIS_URL, Redis and the workers)")
    serve.add_argument("--port", type=int, help="port to listen on (FOCALPOINT_PORT)")
    serve.add_argument("--host", help="address to listen on (FOCALPOINT_HOST)")
    serve.add_argument("--data-dir", type=Path, help="spool and embedded Redis directory (FOCALPOINT_DATA_DIR)")
    serve.add_argument("--emulate-gemini", action="store_true", default=None,
                       help="send uploads to a local Gemini emulator (FOCALPOINT_EMULATE_GEMINI)")
    worker = sub.add_parser("worker", help="run Dramatiq workers against REDIS_URL")
    worker.add_argument("--threads", type=int, help="worker threads (FOCALPOINT_WORKER_THREADS)")
    worker.add_argument("--data-dir", type=Path, help="where the spool files are (FOCALPOINT_DATA_DIR)")
    emulator = sub.add_parser("emulator", help="run the Gemini Files API emulator")
    emulator.add_argument("--port", type=int, default=8090)
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--api-key", default="emulator-key", help="the API key the emulator accepts")
    emulator.add_argument("--processing-seconds", type=float, default=2.0,
                          help="how long a file stays PROCESSING before it is ACTIVE")
    settings_cmd = sub.add_parser("settings", help="list every setting, its variable, default and meaning")
    settings_cmd.add_argument("--markdown", action="store_true", help="as the README's table")
    sub.add_parser("report", help="requests per attemptId and response times from the JSON request logs "
                                  "(see `focalpoint-upload report --help`)", add_help=False)
    token = sub.add_parser("token", help="print a bearer token for a user, signed with FOCALPOINT_AUTH_SECRET "
                                         "(for trying the service; FocalPoint's app mints its own)")
    token.add_argument("--user", required=True, help="the token's subject (sub): whose uploads these are")
    token.add_argument("--ttl", default="1h", help="how long the token is valid (default 1h)")
    token.add_argument("--max-bytes", help="largest upload this token may send (e.g. 500MiB; default: no own cap)")
    sweep = sub.add_parser("sweep", help="find stuck jobs and stale spool files once, fix them, print a report")
    sweep.add_argument("--recovering", action="store_true",
                       help="treat every SPOOLING job as dead and re-send every job without a live upload "
                            "(only when no front door or worker of this deployment is running)")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["report"]:  # its own argument parser; reads logs, needs no settings
        from focalpoint_upload.observability.report import main as report_main

        return report_main(argv[1:])
    args = _parser().parse_args(argv)
    if args.command == "settings":
        return _print_settings(markdown=args.markdown)
    if args.command == "token":
        return _token(args.user, args.ttl, args.max_bytes)
    signals = None
    if args.command in ("serve", "worker", "emulator"):
        from focalpoint_upload.lifecycle import StopSignals

        # First thing: from here on SIGTERM/SIGINT mean "stop cleanly", never "die where you stand".
        signals = StopSignals().install()
    if args.command in ("serve", "worker", "sweep"):
        os.umask(0o077)  # the data directory holds uploads and job records: files 0600, directories 0700
    if args.command == "emulator":
        try:
            emulator = _emulator()
        except ConfigError as exc:
            print(f"focalpoint-upload: {exc.problem}", file=sys.stderr)
            return 2
        setup_logging("INFO", None)
        config = emulator.EmulatorConfig(processing_delay_s=args.processing_seconds)
        emulator.serve(args.host, args.port, args.api_key, config=config, stop=signals,
                       on_ready=lambda port: print(f"gemini emulator on http://{args.host}:{port}", file=sys.stderr))
        return 0
    overrides: dict[str, Any] = {}
    if args.command == "serve":
        overrides = {"port": args.port, "host": args.host, "data_dir": args.data_dir,
                     "emulate_gemini": args.emulate_gemini}
        if args.data_dir is not None and "FOCALPOINT_SPOOL_DIR" not in os.environ:
            overrides["spool_dir"] = args.data_dir / "spool"
    elif args.command == "worker":
        overrides = {"worker_threads": args.threads, "data_dir": args.data_dir}
        if args.data_dir is not None and "FOCALPOINT_SPOOL_DIR" not in os.environ:
            overrides["spool_dir"] = args.data_dir / "spool"
    try:
        settings = load_settings(os.environ, **overrides)
        _check_gemini(settings)
        if args.command == "serve" and settings.emulate_gemini:
            _emulator()  # refuse now, with the fix, if this install has none
        if args.command in ("worker", "sweep") and settings.redis_url is None:
            raise ConfigError("REDIS_URL", f"is required by `{args.command}` (it works on the front doors' Redis)",
                              "redis://127.0.0.1:6379/0")
    except ConfigError as exc:
        print(f"focalpoint-upload: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve" and (refusal := _auth_refusal(settings)) is not None:
        print(f"focalpoint-upload: {refusal}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level, settings.log_file)
    from focalpoint_upload.observability.sentry import init_sentry

    init_sentry(settings, args.command)  # before any broker is built: Sentry's Dramatiq integration patches it
    if args.command == "serve":
        assert signals is not None
        return asyncio.run(_serve(settings, signals))
    if args.command == "sweep":
        return _sweep(settings, recovering=args.recovering)
    assert signals is not None
    return _work(settings, signals)


def _check_gemini(s: Settings) -> None:
    if s.emulate_gemini or s.gemini_api_key or s.gemini_base_url:
        return
    raise ConfigError("GEMINI_API_KEY", "is not set, so uploads cannot reach Gemini. Set it to your Gemini API key, "
                      "or set GEMINI_BASE_URL to an emulator (focalpoint-upload emulator), or pass --emulate-gemini "
                      "to try the service locally", "AIza...")


def _emulator() -> ModuleType:
    """The Gemini emulator package (see EMULATOR); ConfigError saying what to do if this install has none."""
    try:
        return importlib.import_module(EMULATOR)
    except ModuleNotFoundError as exc:
        if exc.name is None or not EMULATOR.startswith(exc.name):
            raise  # the emulator is there but something it needs is not: a real error, shown as one
        raise ConfigError("FOCALPOINT_EMULATE_GEMINI", "the Gemini emulator (--emulate-gemini, the emulator command) "
                          "is a development tool that this installation does not have: run from a checkout with "
                          "./dev serve (or pip install -e .), or set GEMINI_API_KEY to use Gemini", "false") from None


async def _serve(settings: Settings, signals: StopSignals) -> int:
    """Run until a stop signal; one that comes during start-up stops whatever has started, and exits 0."""
    from focalpoint_upload.lifecycle import StartError
    from focalpoint_upload.service import Service

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals.attach(loop, stop.set)
    emulator = None
    try:
        if settings.emulate_gemini:
            emulation = _emulator()
            emulator = emulation.EmulatorServer(
                config=emulation.EmulatorConfig(api_key="emulator-key", processing_delay_s=5.0))
            settings = settings.replace(gemini_base_url=emulator.base_url, gemini_api_key=emulator.api_key)
            print(BANNER + f"  emulator at {emulator.base_url}\n", file=sys.stderr)
        service = Service(settings)
        try:
            await service.start()
        except StartError as exc:
            print(f"focalpoint-upload: {exc}", file=sys.stderr)
            return exc.exit_status
        try:
            if not stop.is_set():
                print(f"focalpoint-upload: listening on http://{settings.host}:{service.port}/", file=sys.stderr)
            await stop.wait()
        finally:
            await service.stop()
    finally:
        if emulator is not None:
            emulator.stop()
        signals.detach(loop)
    return 0


def _auth_refusal(settings: Settings) -> str | None:
    """Why ``serve`` must not start with these auth settings; prints the warning when auth is off."""
    from focalpoint_upload.frontdoor.auth import exposure_problem

    if (problem := exposure_problem(settings)) is not None:
        return problem
    if not settings.auth_enabled:
        print("focalpoint-upload: WARNING: auth is off (no FOCALPOINT_AUTH_SECRET or FOCALPOINT_AUTH_PUBLIC_KEY): "
              "every client is the same anonymous user and can see and cancel every upload", file=sys.stderr)
    return None


def _token(user: str, ttl: str, max_bytes: str | None) -> int:
    import time

    from focalpoint_upload.config import parse
    from focalpoint_upload.frontdoor.auth import mint

    try:
        settings = load_settings(os.environ)
        ttl_s = parse.duration("--ttl", ttl)
        cap = parse.size("--max-bytes", max_bytes) if max_bytes is not None else None
    except ConfigError as exc:
        print(f"focalpoint-upload: configuration error: {exc}", file=sys.stderr)
        return 2
    if not settings.auth_secret:
        why = ("only FOCALPOINT_AUTH_PUBLIC_KEY is set: tokens are signed with its private key, by FocalPoint's app"
               if settings.auth_public_key else "auth is off: FOCALPOINT_AUTH_SECRET is not set")
        print(f"focalpoint-upload: cannot make a token: {why}", file=sys.stderr)
        return 2
    if ttl_s <= 0 or not user.strip():
        print("focalpoint-upload: --user must not be empty and --ttl must be more than 0", file=sys.stderr)
        return 2
    print(mint(settings.auth_secret, user, ttl_s, time.time(), max_bytes=cap))
    return 0


def _work(settings: Settings, signals: StopSignals) -> int:
    from focalpoint_upload.worker import run_worker

    return run_worker(settings, signals)


def _sweep(settings: Settings, *, recovering: bool) -> int:
    import json
    import time

    from focalpoint_upload.actors.runtime import build_leg, make_sweeper
    from focalpoint_upload.service import connect

    assert settings.redis_url is not None
    parts = connect(settings, settings.redis_url, time.time)
    leg = build_leg(settings, parts.broker, parts.store, time.time, parts.client)
    report = make_sweeper(settings, parts.store, parts.client, leg, time.time).sweep(recovering=recovering)
    print(json.dumps(report.as_dict()))
    parts.client.close()
    return 0


def _print_settings(*, markdown: bool = False) -> int:
    from focalpoint_upload.config.settings import VARIABLES, markdown_table

    if markdown:
        print(markdown_table())
        return 0
    for var in VARIABLES:
        print(f"{var.env}={var.default or ''}\n    {var.doc}")
    return 0


def run() -> NoReturn:
    """The console script: :func:`main`, then a quick exit.

    Once nothing of ours runs any more (every non-daemon thread has ended, so a clean stop is complete),
    the exit handlers run (logging's flush, Sentry's) and the process ends without the interpreter's
    teardown of the imported libraries, which takes seconds on a loaded machine and does nothing we need."""
    import atexit
    import threading

    status = main()
    main_thread = threading.main_thread()
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not main_thread):
        sys.exit(status)  # something still runs: the interpreter waits for it, as usual
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":  # pragma: no cover
    run()
