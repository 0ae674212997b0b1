"""``python -m focalpoint_upload.gemini.emulator [--host H] [--port N] [--api-key K] [--granularity B]
[--processing-delay S]``.

Prints ``LISTENING <port>`` on stdout once it accepts connections (so ``--port 0`` can be used), then
serves until killed. Tests use this to run the emulator in its own process.
"""

from __future__ import annotations

import argparse
import sys

from focalpoint_upload.gemini.emulator.server import serve
from focalpoint_upload.gemini.emulator.state import EmulatorConfig


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m focalpoint_upload.gemini.emulator",
                                     description="Gemini Files API emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--api-key", default="emulator-key")
    parser.add_argument("--granularity", type=int, default=EmulatorConfig.granularity)
    parser.add_argument("--processing-delay", type=float, default=0.0)
    args = parser.parse_args(argv)
    config = EmulatorConfig(granularity=args.granularity, processing_delay_s=args.processing_delay)

    def ready(port: int) -> None:
        print(f"LISTENING {port}", flush=True)

    try:
        serve(args.host, args.port, args.api_key, config=config, on_ready=ready)
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
