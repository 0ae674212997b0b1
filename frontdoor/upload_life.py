"""The life of one ``POST /api/upload`` request: one transition table and a pure ``advance``.

    HEADERS -admit-> STREAMING -body_end-> COMPLETING -finished-> ANSWERED      (202, or 409 if cancelled)
    HEADERS -known-> REPLAYING -body_end-> ANSWERING -finished-> ANSWERED       (200 replay, 409, 422)
    HEADERS -refuse-> REFUSED -body_end-> ANSWERING -finished-> ANSWERED        (the refusal, after the drain)
    STREAMING -fail-> REFUSED      the body is unacceptable: spool dropped, job FAILED, the rest drained
    COMPLETING -fail-> ANSWERING   the completed body is unacceptable (empty, bad multipart, disk error)
    REPLAYING | REFUSED -refuse-> REFUSED   a later refusal replaces the answer (too slow, an internal error)
    HEADERS | STREAMING | REPLAYING | REFUSED -abort-> ABORTED   the client left or stalled before the body ended
    any non-terminal -finished-> ANSWERED   Tornado answered (an error it rendered, an answer we wrote)

While a state takes body bytes (:data:`TAKES_BODY`) a client that goes away aborts the request; once the body
has ended (COMPLETING, ANSWERING) the request is finished whatever the client does. ANSWERED and ABORTED are
terminal: no event leaves them. Tornado ends every request whose ``prepare`` ran in exactly one of
``on_finish`` (``finished``) or ``on_connection_close`` (``abort`` while the body is still read), so every
request ends in a terminal state. Nothing here does I/O; the handler (:mod:`frontdoor.upload`) holds one
:class:`Life` and moves it only through :func:`advance`.
"""

from __future__ import annotations

from enum import StrEnum


class Life(StrEnum):
    HEADERS = "headers"  # prepare(): authenticated, admission not decided yet
    STREAMING = "streaming"  # admitted: body bytes go to the spool of a SPOOLING job
    REPLAYING = "replaying"  # a known attempt: the body is drained (and compared), the answer comes from its job
    REFUSED = "refused"  # the answer is a refusal: the body is drained first (a proxy needs that, field notes)
    COMPLETING = "completing"  # the whole body is in the spool: fsync, rename, SPOOLED, hand-off
    ANSWERING = "answering"  # no more body is read: the answer is being made (a store read for a replay)
    ANSWERED = "answered"  # terminal: the response is written
    ABORTED = "aborted"  # terminal: the client left (or was cut off) before its body ended; 499 in the access log


class Move(StrEnum):
    ADMIT = "admit"  # admission made a SPOOLING job for the request
    KNOWN = "known"  # the attempt already has a job: replay it (or 409 while it streams)
    REFUSE = "refuse"  # the request will be refused (after the drain)
    FAIL = "fail"  # the admitted upload's body is unacceptable
    BODY_END = "body_end"  # no more body will be read: it is complete, or we answer before its end
    ABORT = "abort"  # the client closed the connection, or we cut it off
    FINISHED = "finished"  # Tornado finished the response (on_finish)


class IllegalMove(Exception):
    """``advance`` was asked for a move the table does not have: a bug in the handler, never a client error."""

    def __init__(self, state: Life, move: Move) -> None:
        super().__init__(f"illegal upload move {move} from {state}")
        self.state, self.move = state, move


TERMINAL: frozenset[Life] = frozenset({Life.ANSWERED, Life.ABORTED})
TAKES_BODY: frozenset[Life] = frozenset({Life.HEADERS, Life.STREAMING, Life.REPLAYING, Life.REFUSED})
DRAINING: frozenset[Life] = frozenset({Life.REPLAYING, Life.REFUSED})

TABLE: dict[tuple[Life, Move], Life] = {
    (Life.HEADERS, Move.ADMIT): Life.STREAMING,
    (Life.HEADERS, Move.KNOWN): Life.REPLAYING,
    (Life.HEADERS, Move.REFUSE): Life.REFUSED,
    (Life.STREAMING, Move.FAIL): Life.REFUSED,
    (Life.COMPLETING, Move.FAIL): Life.ANSWERING,
    (Life.REPLAYING, Move.REFUSE): Life.REFUSED,
    (Life.REFUSED, Move.REFUSE): Life.REFUSED,
    (Life.STREAMING, Move.BODY_END): Life.COMPLETING,
    (Life.REPLAYING, Move.BODY_END): Life.ANSWERING,
    (Life.REFUSED, Move.BODY_END): Life.ANSWERING,
    **{(s, Move.ABORT): Life.ABORTED for s in TAKES_BODY},
    **{(s, Move.FINISHED): Life.ANSWERED for s in Life if s not in TERMINAL},
}


def advance(state: Life, move: Move) -> Life:
    """The state ``move`` takes ``state`` to. Raises :class:`IllegalMove` if the table has no such move."""
    try:
        return TABLE[(state, move)]
    except KeyError:
        raise IllegalMove(state, move) from None


def allowed(state: Life) -> frozenset[Move]:
    return frozenset(m for (s, m) in TABLE if s is state)
