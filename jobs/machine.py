"""The job state machine: one transition table and a pure ``advance``.

    SPOOLING -> SPOOLED -> UPLOADING -> PROCESSING -> ACTIVE
    SPOOLING -> SPOOLING (stream_started: the actors begin forwarding the durable prefix to Gemini; once)
    any non-final state -> FAILED | CANCELLED
    FAILED -> SPOOLED (retry; the handler allows it only with the spool kept)
    PROCESSING -> SPOOLED (reupload: Gemini's sha256 of the file differed from the spool's; allowed once)
    ACTIVE -> EXPIRED (the Gemini file's expiry passed, or FOCALPOINT's GEMINI_FILE_TTL) -> SPOOLED (retry)
    ACTIVE -> DELETED (DELETE /api/upload/{id}: the Gemini file is deleted)

ACTIVE, FAILED, CANCELLED, EXPIRED and DELETED are final: no actor moves them on, and a waiting client stops
polling. Only the file's life goes on after ACTIVE: it ends by expiry or by a delete, both final too.
Nothing here does I/O: the job store applies ``advance`` inside a compare-and-set so two deliveries of one
message can never move a job backwards.
"""

from __future__ import annotations

from enum import StrEnum

from focalpoint_upload.jobs.errors import IllegalTransition


class State(StrEnum):
    SPOOLING = "SPOOLING"
    SPOOLED = "SPOOLED"
    UPLOADING = "UPLOADING"
    PROCESSING = "PROCESSING"
    ACTIVE = "ACTIVE"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"  # was ACTIVE; the Gemini file is gone by age (its space is released)
    DELETED = "DELETED"  # was ACTIVE; the client deleted the Gemini file (its space is released)


class Event(StrEnum):
    STREAM_STARTED = "stream_started"  # a resumable upload's durable prefix may go to Gemini while it spools
    SPOOL_COMPLETE = "spool_complete"  # the front door has the whole body on disk, fsynced
    UPLOAD_STARTED = "upload_started"  # an actor opened (or found) the Gemini resumable session
    UPLOAD_FINISHED = "upload_finished"  # Gemini acknowledged the last byte; the file exists
    FILE_ACTIVE = "file_active"  # Gemini says the file is ACTIVE
    FAIL = "fail"
    CANCEL = "cancel"
    RETRY = "retry"  # a FAILED job whose spool is kept goes back to SPOOLED (POST /api/upload/{id}/retry)
    REUPLOAD = "reupload"  # Gemini stored other bytes than the spool's: delete that file, upload again
    EXPIRE = "expire"  # an ACTIVE job's file reached its expiry (the sweeper; actors.storage)
    DELETE = "delete"  # DELETE /api/upload/{id} on an ACTIVE job


FINAL: frozenset[State] = frozenset({State.ACTIVE, State.FAILED, State.CANCELLED, State.EXPIRED, State.DELETED})

# The forward path. FAIL and CANCEL are added below for every non-final state.
_FORWARD: dict[tuple[State, Event], State] = {
    (State.SPOOLING, Event.SPOOL_COMPLETE): State.SPOOLED,
    (State.SPOOLED, Event.UPLOAD_STARTED): State.UPLOADING,
    (State.UPLOADING, Event.UPLOAD_FINISHED): State.PROCESSING,
    (State.PROCESSING, Event.FILE_ACTIVE): State.ACTIVE,
}

# The one move that keeps the state: stream-through sets the job's ``streaming`` flag (``actors.stream``). The
# store refuses it once the job has left SPOOLING, so the flag is set at most once per spooling job.
SELF_LOOPS: dict[tuple[State, Event], State] = {
    (State.SPOOLING, Event.STREAM_STARTED): State.SPOOLING,
}

TRANSITIONS: dict[tuple[State, Event], State] = {
    **_FORWARD,
    **SELF_LOOPS,
    (State.FAILED, Event.RETRY): State.SPOOLED,
    (State.PROCESSING, Event.REUPLOAD): State.SPOOLED,
    (State.ACTIVE, Event.EXPIRE): State.EXPIRED,
    (State.ACTIVE, Event.DELETE): State.DELETED,
    (State.EXPIRED, Event.RETRY): State.SPOOLED,  # as for FAILED: only with the spool kept
    **{(s, Event.FAIL): State.FAILED for s in State if s not in FINAL},
    **{(s, Event.CANCEL): State.CANCELLED for s in State if s not in FINAL},
}

# Position on the happy path; FAILED and CANCELLED are past everything, EXPIRED and DELETED past ACTIVE.
ORDER: dict[State, int] = {
    State.SPOOLING: 0, State.SPOOLED: 1, State.UPLOADING: 2, State.PROCESSING: 3,
    State.ACTIVE: 4, State.FAILED: 5, State.CANCELLED: 5, State.EXPIRED: 6, State.DELETED: 6,
}


def advance(state: State, event: Event) -> State:
    """The state ``event`` moves ``state`` to. Raises :class:`IllegalTransition` if the move is not in the table."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise IllegalTransition(state, event) from None


def is_final(state: State) -> bool:
    return state in FINAL


def allowed_events(state: State) -> frozenset[Event]:
    return frozenset(e for (s, e) in TRANSITIONS if s == state)
