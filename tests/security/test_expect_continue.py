"""Issue 11, section 4: ``Expect: 100-continue`` is answered with the refusal itself when the request will be
refused (no ``100 Continue`` first, so the client never sends a body that is thrown away); a request we will
take gets its 100 after admission, then its 202."""

from __future__ import annotations

from tests.helpers.http import attempt_id, upload_raw
from tests.helpers.service import RunningService
from tests.security.rawhttp import Conn, head_of


def expect(port: int, headers: dict[str, str], method: str = "POST") -> tuple[Conn, bytes]:
    conn = Conn(port)
    conn.send(head_of(method, "/api/upload", {"Expect": "100-continue", **headers}))
    answer = conn.read_answer()
    return conn, f"{answer.status}".encode() + b" " + answer.body


def test_a_bad_attempt_id_is_refused_without_100_continue(service: RunningService) -> None:
    conn, answer = expect(service.port, {"X-Attempt-Id": "bad", "Content-Type": "video/mp4",
                                         "Content-Length": str(5 * 1024 * 1024)})
    try:
        assert answer.startswith(b"400 "), answer
        assert b'"bad_attempt_id"' in answer
        assert conn.nothing_more()
    finally:
        conn.close()


def test_a_refused_media_type_and_size_are_answered_without_100_continue(make_service) -> None:  # type: ignore[no-untyped-def]
    svc = make_service(max_upload_bytes=1024 * 1024)
    for headers, status in [({"Content-Type": "application/zip", "Content-Length": "1000"}, b"415 "),
                            ({"Content-Type": "video/mp4", "Content-Length": str(2 * 1024 * 1024)}, b"413 ")]:
        conn, answer = expect(svc.port, {"X-Attempt-Id": attempt_id(), **headers})
        conn.close()
        assert answer.startswith(status), answer
    assert list(svc.service.settings.spool_dir.iterdir()) == []


def test_a_wrong_method_is_refused_without_100_continue(service: RunningService) -> None:
    conn, answer = expect(service.port, {"X-Attempt-Id": attempt_id(), "Content-Length": "1000"}, method="PUT")
    conn.close()
    assert answer.startswith(b"405 "), answer


def test_a_replay_is_answered_without_asking_for_the_body_again(service: RunningService) -> None:
    att = attempt_id()
    assert upload_raw(service.port, 1000, att).status == 202
    same = {"X-Attempt-Id": att, "Content-Type": "video/mp4", "Content-Length": "1000", "X-File-Name": "clip.mp4"}
    conn, answer = expect(service.port, same)
    conn.close()
    assert answer.startswith(b"200 "), answer
    # The headers of a raw body decide the match too: another file is refused (422) without its body.
    conn, answer = expect(service.port, {**same, "Content-Length": "999"})
    conn.close()
    assert answer.startswith(b"422 "), answer


def test_an_accepted_upload_gets_100_continue_then_202(service: RunningService) -> None:
    conn = Conn(service.port)
    try:
        conn.send(head_of("POST", "/api/upload", {"Expect": "100-continue", "X-Attempt-Id": attempt_id(),
                                                  "Content-Type": "video/mp4", "Content-Length": "1000"}))
        assert conn.read_answer().status == 100
        conn.send(b"z" * 1000)
        final = conn.read_answer()
        assert final.status == 202, final.body
    finally:
        conn.close()
