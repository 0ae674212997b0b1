"""The upload request's life, property-tested: illegal moves raise, terminal states stay terminal, and whatever
happened, Tornado's last word (``finished``, or ``abort`` while the body is read) ends the request."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from focalpoint_upload.frontdoor.upload_life import (
    TABLE,
    TAKES_BODY,
    TERMINAL,
    IllegalMove,
    Life,
    Move,
    advance,
    allowed,
)


def reachable(start: Life = Life.HEADERS) -> set[Life]:
    seen, todo = {start}, [start]
    while todo:
        state = todo.pop()
        for move in allowed(state):
            nxt = advance(state, move)
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


@given(st.lists(st.sampled_from(list(Move)), max_size=30))
def test_random_moves_raise_when_illegal_and_never_leave_a_terminal_state(moves: list[Move]) -> None:
    state = Life.HEADERS
    for move in moves:
        if (state, move) in TABLE:
            nxt = advance(state, move)
            assert nxt is TABLE[(state, move)]
            assert state not in TERMINAL
            state = nxt
        else:
            with pytest.raises(IllegalMove):
                advance(state, move)
    assert state in reachable()


@given(st.lists(st.sampled_from(list(Move)), max_size=30))
def test_every_path_ends_answered_or_aborted(moves: list[Move]) -> None:
    """Tornado calls on_finish or (while the body is read) on_connection_close: either ends the request."""
    state = Life.HEADERS
    for move in moves:
        if move in allowed(state):
            state = advance(state, move)
    if state not in TERMINAL:
        assert advance(state, Move.FINISHED) is Life.ANSWERED
        if state in TAKES_BODY:
            assert advance(state, Move.ABORT) is Life.ABORTED


@pytest.mark.parametrize("state", sorted(TERMINAL))
@pytest.mark.parametrize("move", list(Move))
def test_terminal_states_take_no_move(state: Life, move: Move) -> None:
    with pytest.raises(IllegalMove):
        advance(state, move)


def test_every_state_is_reachable_and_can_reach_answered() -> None:
    assert reachable() == set(Life)
    for state in set(Life) - TERMINAL:
        assert Life.ANSWERED in reachable(state)


@pytest.mark.parametrize("state", [Life.COMPLETING, Life.ANSWERING])
def test_once_the_body_has_ended_the_client_cannot_abort(state: Life) -> None:
    with pytest.raises(IllegalMove):
        advance(state, Move.ABORT)


def test_the_happy_paths() -> None:
    def walk(*moves: Move) -> Life:
        state = Life.HEADERS
        for move in moves:
            state = advance(state, move)
        return state

    assert walk(Move.ADMIT, Move.BODY_END) is Life.COMPLETING
    assert walk(Move.ADMIT, Move.FAIL, Move.BODY_END, Move.FINISHED) is Life.ANSWERED
    assert walk(Move.KNOWN, Move.REFUSE, Move.BODY_END) is Life.ANSWERING
    assert walk(Move.REFUSE, Move.ABORT) is Life.ABORTED
    with pytest.raises(IllegalMove):
        walk(Move.REFUSE, Move.ADMIT)  # a refused request never spools
    with pytest.raises(IllegalMove):
        walk(Move.ADMIT, Move.KNOWN)

