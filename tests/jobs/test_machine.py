"""The state machine, property-tested: no sequence of events reaches an illegal state or moves backwards."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from focalpoint_upload.jobs import FINAL, TRANSITIONS, Event, IllegalTransition, State, advance, is_final
from focalpoint_upload.jobs.machine import ORDER, allowed_events

states = st.sampled_from(list(State))
events = st.sampled_from(list(Event))


def test_the_happy_path() -> None:
    s = State.SPOOLING
    for event in (Event.SPOOL_COMPLETE, Event.UPLOAD_STARTED, Event.UPLOAD_FINISHED, Event.FILE_ACTIVE):
        s = advance(s, event)
    assert s is State.ACTIVE


@pytest.mark.parametrize("state", [s for s in State if s not in FINAL])
def test_fail_and_cancel_from_every_non_final_state(state: State) -> None:
    assert advance(state, Event.FAIL) is State.FAILED
    assert advance(state, Event.CANCEL) is State.CANCELLED


# The moves out of final states: a retry (of a failure or of an expired file), and the end of an ACTIVE file.
FROM_FINAL = {
    (State.FAILED, Event.RETRY): State.SPOOLED,
    (State.EXPIRED, Event.RETRY): State.SPOOLED,
    (State.ACTIVE, Event.EXPIRE): State.EXPIRED,
    (State.ACTIVE, Event.DELETE): State.DELETED,
}


@pytest.mark.parametrize("state", sorted(FINAL))
def test_final_states_accept_nothing_but_a_retry_or_the_end_of_an_active_file(state: State) -> None:
    for event in Event:
        if (state, event) in FROM_FINAL:
            assert advance(state, event) is FROM_FINAL[(state, event)]
            continue
        with pytest.raises(IllegalTransition):
            advance(state, event)


def test_skipping_a_stage_is_illegal() -> None:
    with pytest.raises(IllegalTransition):
        advance(State.SPOOLING, Event.UPLOAD_STARTED)
    with pytest.raises(IllegalTransition):
        advance(State.SPOOLED, Event.FILE_ACTIVE)


@given(states, events)
def test_advance_is_the_table(state: State, event: Event) -> None:
    if (state, event) in TRANSITIONS:
        assert advance(state, event) is TRANSITIONS[(state, event)]
        assert event in allowed_events(state)
    else:
        with pytest.raises(IllegalTransition):
            advance(state, event)


@given(st.lists(events, max_size=30))
def test_any_event_sequence_only_moves_forward_and_stops_at_a_final_state(seq: list[Event]) -> None:
    state = State.SPOOLING
    for event in seq:
        try:
            new = advance(state, event)
        except IllegalTransition:
            continue  # the store refuses the move; the job keeps its state
        if event is Event.RETRY:  # a way back, only from FAILED or EXPIRED (a kept spool sent again)
            assert state in (State.FAILED, State.EXPIRED) and new is State.SPOOLED
        elif event is Event.REUPLOAD:  # the other way back: an integrity mismatch, only from PROCESSING
            assert (state, new) == (State.PROCESSING, State.SPOOLED)
        elif event is Event.STREAM_STARTED:  # the only move that keeps the state: a flag while spooling
            assert state is new is State.SPOOLING
        else:
            assert ORDER[new] > ORDER[state], f"{state} -{event}-> {new} moved backwards"
            assert not is_final(state) or (state, event) in FROM_FINAL
            if event in (Event.EXPIRE, Event.DELETE):  # only an ACTIVE job's file expires or is deleted
                assert state is State.ACTIVE
        state = new
    assert state in set(State)


def test_stream_started_is_legal_only_while_spooling_and_keeps_the_state() -> None:
    for state in State:
        if state is State.SPOOLING:
            assert advance(state, Event.STREAM_STARTED) is State.SPOOLING
        else:
            with pytest.raises(IllegalTransition):
                advance(state, Event.STREAM_STARTED)


@given(st.lists(events, max_size=30))
def test_a_streaming_job_takes_the_same_path_as_any_other(seq: list[Event]) -> None:
    """Stream-through changes no state: removing STREAM_STARTED from any sequence gives the same end state."""
    def run(events_: list[Event]) -> State:
        state = State.SPOOLING
        for event in events_:
            try:
                state = advance(state, event)
            except IllegalTransition:
                continue
        return state

    assert run(seq) is run([e for e in seq if e is not Event.STREAM_STARTED])


def test_every_state_is_reachable_from_spooling() -> None:
    seen, frontier = {State.SPOOLING}, [State.SPOOLING]
    while frontier:
        s = frontier.pop()
        for (src, _), dst in TRANSITIONS.items():
            if src == s and dst not in seen:
                seen.add(dst)
                frontier.append(dst)
    assert seen == set(State)


@given(st.lists(events, max_size=30))
def test_expired_and_deleted_are_reached_only_through_active(seq: list[Event]) -> None:
    state, was_active = State.SPOOLING, False
    for event in seq:
        try:
            state = advance(state, event)
        except IllegalTransition:
            continue
        if state in (State.EXPIRED, State.DELETED):
            assert was_active
        was_active = state is State.ACTIVE
    assert state is not State.DELETED or not allowed_events(state)  # DELETED is the end: not even a retry
