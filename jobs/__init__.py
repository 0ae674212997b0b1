"""Jobs: the state machine, the job record and the job store shared by the front door and the actors."""

from focalpoint_upload.jobs.codes import ErrorCode, failure
from focalpoint_upload.jobs.errors import IllegalTransition, JobError, JobNotFound, StaleJob, StoreUnavailable
from focalpoint_upload.jobs.machine import FINAL, TRANSITIONS, Event, State, advance, is_final
from focalpoint_upload.jobs.record import ANONYMOUS_OWNER, INGEST_FAILURES, Job, new_job_id
from focalpoint_upload.jobs.store import JobStore, RedisJobStore

__all__ = [
    "ANONYMOUS_OWNER", "FINAL", "INGEST_FAILURES", "TRANSITIONS", "ErrorCode", "Event", "IllegalTransition", "Job",
    "JobError", "JobNotFound", "JobStore", "RedisJobStore", "StaleJob", "State", "StoreUnavailable", "advance",
    "failure", "is_final", "new_job_id",
]
