"""One Gemini upload in a fresh process, so that its peak RSS is its own.

    python bench/_gemini_client.py --impl ours|sdk --file F --base-url URL [--api-key K] [--chunk 8MiB]
                                   [--sdk-restart]

``ours``: the production path, ``actors.gemini_adapters.ResumableUploader`` (gemini/uploader.py over
gemini/resumable.py) built from Settings as the worker builds it. ``sdk``: google-genai's ``files.upload``.
With ``--sdk-restart`` a failed SDK upload is started again from scratch once (what a caller can do: the SDK
cannot resume). Prints one JSON object: seconds, ok, error, rss_before_mib (after imports), peak_rss_mib.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def rss_mib(field: str) -> float:
    m = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    return int(m.group(1)) / 1024 if m else 0.0


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--impl", choices=("ours", "sdk"), required=True)
    p.add_argument("--file", required=True)
    p.add_argument("--base-url", required=True)
    p.add_argument("--api-key", default="bench-key")
    p.add_argument("--chunk", default="8MiB")
    p.add_argument("--sdk-restart", action="store_true")
    a = p.parse_args()
    size = os.path.getsize(a.file)
    out: dict[str, object] = {"impl": a.impl, "size": size}
    if a.impl == "ours":
        from focalpoint_upload.actors.gemini_adapters import ResumableUploader
        from focalpoint_upload.config import load_settings

        settings = load_settings({"GEMINI_API_KEY": a.api_key, "GEMINI_BASE_URL": a.base_url,
                                  "GEMINI_CHUNK_SIZE": a.chunk})
        uploader = ResumableUploader(settings)

        def run() -> str:
            remote = uploader.upload(Path(a.file), size, "video/mp4", "bench", None,
                                     save_session=lambda url: None, save_progress=lambda offset: None)
            return remote.state
    else:
        from google import genai
        from google.genai import types

        client = genai.Client(api_key=a.api_key, http_options=types.HttpOptions(
            base_url=a.base_url, api_version="v1beta", timeout=600_000))

        def run() -> str:
            f = client.files.upload(file=a.file, config={"mime_type": "video/mp4", "display_name": "bench"})
            return str(f.state)

    out["rss_before_mib"] = rss_mib("VmRSS")
    t0 = time.monotonic()
    try:
        out["state"] = run()
        out["ok"] = True
    except Exception as exc:
        out["ok"] = False
        out["error"] = f"{type(exc).__module__}.{type(exc).__name__}: {str(exc)[:200]}"
        out["failed_after_s"] = time.monotonic() - t0
        if a.sdk_restart and a.impl == "sdk":
            try:
                out["state"] = run()
                out["ok_after_restart"] = True
            except Exception as exc2:
                out["ok_after_restart"] = False
                out["error2"] = f"{type(exc2).__name__}: {str(exc2)[:200]}"
    out["seconds"] = time.monotonic() - t0
    out["peak_rss_mib"] = rss_mib("VmHWM")
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
