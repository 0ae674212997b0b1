"""The front door's one step of stream-through: hand a resumable upload to the actors once bytes are durable.

Called after an append recorded a new durable offset (``frontdoor.append``). The first time, and only while the
upload is SPOOLING, the job takes the STREAM_STARTED move (it keeps SPOOLING and sets ``streaming``) and one
``stream`` message goes to the actors (``actors.stream``), which forward the durable bytes to Gemini while the
client sends the rest. Best effort: the upload never fails for it; without it the Gemini upload starts after
the last byte, as it always did.
"""

from __future__ import annotations

import logging

from focalpoint_upload.frontdoor.context import Frontdoor
from focalpoint_upload.jobs import Event, IllegalTransition, Job, JobNotFound, StaleJob, State

log = logging.getLogger("focalpoint.frontdoor")


async def start_stream(fd: Frontdoor, job: Job) -> Job:
    """``job`` after starting its stream (or unchanged: off, started already, not a spooling resumable upload)."""
    if (not fd.settings.stream_through or job.streaming or not job.resumable or job.state is not State.SPOOLING
            or job.bytes_received <= 0):
        return job
    try:
        started = await fd.store.transition(job.job_id, Event.STREAM_STARTED, expect=State.SPOOLING, known=job,
                                            streaming=True)
        await fd.dispatch(fd.dispatcher.job_streaming, started.job_id, started.msg_gen)
    except (StaleJob, IllegalTransition, JobNotFound):
        return job
    except Exception:  # the upload goes on; the Gemini upload then starts after the last byte
        log.exception("stream_dispatch_failed", extra={"fields": {"jobId": job.job_id}})
        return job
    return started
