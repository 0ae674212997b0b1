"""FileLife on Redis and on the in-memory twins (``backend``), a clock moved by hand, and the Gemini twin
failing its deletes when told to."""

from __future__ import annotations

from focalpoint_upload.actors.ports import RemoteFile
from focalpoint_upload.actors.storage import FileLife
from focalpoint_upload.actors.twins import MemoryGemini
from focalpoint_upload.gemini.errors import GeminiTransient
from focalpoint_upload.jobs import Event, Job, JobStore, State, new_job_id
from focalpoint_upload.jobs.storage import StorageBudget
from tests.conftest import Backend, FakeClock


def setup(backend: Backend, clock: FakeClock) -> tuple[JobStore, StorageBudget, MemoryGemini, FileLife]:
    budget = backend.budget(1000, file_ttl_s=600)
    store = backend.store(on_transition=budget.on_transition)
    files = MemoryGemini()
    return store, budget, files, FileLife(store, budget, files, clock)


def active_job(store: JobStore, budget: StorageBudget, files: MemoryGemini, clock: FakeClock) -> Job:
    job_id = new_job_id()
    store.claim(Job(job_id=job_id, attempt_id=new_job_id(), state=State.SPOOLING, created_at=clock(),
                    updated_at=clock(), bytes_total=100))
    store.transition(job_id, Event.SPOOL_COMPLETE)
    assert budget.reserve(job_id, 100)
    store.transition(job_id, Event.UPLOAD_STARTED)
    store.transition(job_id, Event.UPLOAD_FINISHED, gemini_file_name=f"files/{job_id.lower()}")
    name = f"files/{job_id.lower()}"
    files.files[name] = RemoteFile(name=name, uri=f"https://gemini.invalid/{name}", state="ACTIVE")
    return store.transition(job_id, Event.FILE_ACTIVE)


def test_a_file_expires_at_its_ttl_and_its_space_is_freed_only_once_it_is_deleted(
        backend: Backend, clock: FakeClock) -> None:
    store, budget, files, life = setup(backend, clock)
    job = active_job(store, budget, files, clock)
    clock.advance(599)
    assert life.sweep() == (0, 0)
    clock.advance(1)
    files.delete_faults.append(GeminiTransient("503 from Gemini", None))
    assert life.sweep() == (1, 0)  # EXPIRED, but the delete failed: the file may still be there
    assert store.get(job.job_id).state is State.EXPIRED and budget.used() == 100
    assert life.sweep() == (0, 1)  # the next sweep deletes it and frees the space
    assert files.files == {} and budget.used() == 0
    assert life.sweep() == (0, 0)  # and nothing twice


def test_a_deleted_job_is_settled_by_the_sweeper_if_its_message_was_lost(
        backend: Backend, clock: FakeClock) -> None:
    store, budget, files, life = setup(backend, clock)
    job = active_job(store, budget, files, clock)
    store.transition(job.job_id, Event.DELETE, deleted_at=clock())
    assert budget.used() == 100  # still counted: nobody deleted the file yet
    assert life.sweep() == (0, 1)
    assert files.files == {} and budget.used() == 0


def test_bytes_of_a_job_whose_record_is_gone_are_freed_at_its_files_end(
        backend: Backend, clock: FakeClock) -> None:
    store, budget, files, life = setup(backend, clock)
    job = active_job(store, budget, files, clock)
    forget(backend, store, job)  # FOCALPOINT_JOB_TTL shorter than the file's life: the record is gone
    assert life.sweep() == (0, 0) and budget.used() == 100
    clock.advance(600)
    assert life.sweep() == (0, 1) and budget.used() == 0


def forget(backend: Backend, store: JobStore, job: Job) -> None:
    """Drop ``job``'s record as its ttl would."""
    if backend.client is not None:
        backend.client.delete(f"{backend.namespace}:job:{job.job_id}")
    else:
        store._jobs.pop(job.job_id)  # type: ignore[attr-defined]
