"""End-to-end integrity with real workers, our uploader and the emulator: the emulator's ``corrupt_bytes``
fault stores other bytes than were sent, so Gemini's sha256Hash differs from the spool's sha256."""

from __future__ import annotations

from typing import Any

from focalpoint_upload.gemini.emulator import EmulatorServer
from tests.e2e.test_pipeline import wait_state
from tests.helpers.http import attempt_id, payload_sha256, request, upload_raw

MiB = 1024 * 1024
SIZE = 3 * MiB + 77


def run(make_pipeline: Any) -> dict[str, Any]:
    svc = make_pipeline()
    r = upload_raw(svc.port, SIZE, attempt_id())
    assert r.status == 202
    return wait_state(svc.port, r.json["jobId"], {"ACTIVE", "FAILED"}, timeout=60)


def routes(emulator: EmulatorServer) -> list[str]:
    return [e["route"] for e in emulator.emulator.log() if e["status"] is not None and e["status"] < 400]


def test_a_clean_upload_is_verified(make_pipeline: Any, emulator: EmulatorServer) -> None:
    doc = run(make_pipeline)
    assert doc["state"] == "ACTIVE"
    assert doc["sha256"] == payload_sha256(SIZE)
    assert doc["sha256Verified"] is True


def test_one_mismatch_deletes_the_bad_file_and_uploads_again(make_pipeline: Any, emulator: EmulatorServer) -> None:
    fault = emulator.emulator.add_fault("corrupt_bytes", "finalize", times=1)
    doc = run(make_pipeline)
    assert fault.fired == 1
    assert doc["state"] == "ACTIVE", doc
    assert doc["sha256Verified"] is True and doc["retrying"] is None
    left = list(emulator.emulator.files.values())
    assert len(left) == 1 and left[0].sha256_hex == payload_sha256(SIZE)  # the good one
    assert doc["fileUri"].endswith(left[0].file_id)
    assert routes(emulator).count("start") == 2 and routes(emulator).count("delete") == 1


def test_two_mismatches_fail_the_job_and_leave_no_file(make_pipeline: Any, emulator: EmulatorServer) -> None:
    first = emulator.emulator.add_fault("corrupt_bytes", "chunk", times=1)  # the first upload's first chunk
    second = emulator.emulator.add_fault("corrupt_bytes", "finalize", skip=1)  # the second upload's last one
    doc = run(make_pipeline)
    assert first.fired == 1 and second.fired == 1
    assert doc["state"] == "FAILED", doc
    assert doc["error"]["code"] == "integrity_mismatch"
    assert doc["sha256Verified"] is False and doc["fileUri"] is None
    assert emulator.emulator.files == {}
    assert routes(emulator).count("start") == 2 and routes(emulator).count("delete") == 2


def test_a_job_failed_for_integrity_can_be_retried_from_its_spool(make_pipeline: Any,
                                                                   emulator: EmulatorServer) -> None:
    fault = emulator.emulator.add_fault("corrupt_bytes", "finalize", times=3)  # the retry gets its own re-upload
    svc = make_pipeline()
    job_id = upload_raw(svc.port, SIZE, attempt_id()).json["jobId"]
    assert wait_state(svc.port, job_id, {"ACTIVE", "FAILED"})["error"]["code"] == "integrity_mismatch"
    assert request(svc.port, "POST", f"/api/upload/{job_id}/retry").status == 202
    doc = wait_state(svc.port, job_id, {"ACTIVE", "FAILED"})
    assert doc["state"] == "ACTIVE" and doc["sha256Verified"] is True
    assert fault.fired == 3 and len(emulator.emulator.files) == 1


def test_a_run_that_died_between_the_delete_and_the_way_back_is_finished_by_the_next_poll(
        make_pipeline: Any, emulator: EmulatorServer) -> None:
    emulator.emulator.add_fault("processing_stuck", "finalize")
    svc = make_pipeline()
    job_id = upload_raw(svc.port, SIZE, attempt_id()).json["jobId"]
    wait_state(svc.port, job_id, {"PROCESSING"})
    store = svc.service.workers.leg.store
    name = store.get(job_id).gemini_file_name
    # What a run leaves when it is killed right after deleting the mismatched file:
    store.modify(job_id, lambda job: job.with_(discard_file=name))
    emulator.emulator.delete_file(name.removeprefix("files/"))
    assert svc.service.workers.leg.resend(job_id)  # the sweeper's re-send of a lost message
    doc = wait_state(svc.port, job_id, {"ACTIVE", "FAILED"})
    assert doc["state"] == "ACTIVE" and doc["sha256Verified"] is True
    assert len(emulator.emulator.files) == 1 and store.get(job_id).discard_file is None
