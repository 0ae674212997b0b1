"""Sending jobs to the actors: the front door's :class:`~frontdoor.context.Dispatcher` on a Dramatiq broker.

Messages are addressed by actor name so the front door needs no actor code (a multi-host deployment runs the
actors elsewhere). Sending one job twice is harmless: the actors are idempotent.
"""

from __future__ import annotations

import dramatiq

GEMINI_QUEUE = "gemini"
UPLOAD_ACTOR = "upload_to_gemini"
CANCEL_ACTOR = "cancel_gemini_upload"
STREAM_ACTOR = "stream_to_gemini"


class DramatiqDispatcher:
    def __init__(self, broker: dramatiq.Broker) -> None:
        self._broker = broker
        broker.declare_queue(GEMINI_QUEUE)

    def _send(self, actor_name: str, *args: object) -> None:
        message: dramatiq.Message[None] = dramatiq.Message(
            queue_name=GEMINI_QUEUE, actor_name=actor_name, args=args, kwargs={}, options={})
        self._broker.enqueue(message)

    def job_spooled(self, job_id: str, gen: int) -> None:
        self._send(UPLOAD_ACTOR, job_id, gen)

    def job_streaming(self, job_id: str, gen: int) -> None:
        self._send(STREAM_ACTOR, job_id, gen)

    def job_cancelled(self, job_id: str) -> None:
        self._send(CANCEL_ACTOR, job_id)
