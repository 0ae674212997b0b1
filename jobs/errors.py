"""Exceptions of the jobs package, all under :class:`JobError`."""

from __future__ import annotations

from typing import Any


class JobError(Exception):
    """Root of the jobs package."""


class IllegalTransition(JobError):
    """``event`` is not allowed in ``state`` (see ``jobs.machine.TRANSITIONS``)."""

    def __init__(self, state: Any, event: Any) -> None:
        self.state = state
        self.event = event
        super().__init__(f"{event} is not allowed in state {state}")


class JobNotFound(JobError):
    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"no job {job_id}")


class StaleJob(JobError):
    """A compare-and-set lost: the job is no longer in the state the caller expected."""

    def __init__(self, job_id: str, expected: Any, actual: Any) -> None:
        self.job_id = job_id
        self.expected = expected
        self.actual = actual
        super().__init__(f"job {job_id} is {actual}, not {expected}")


class StoreUnavailable(JobError):
    """The job store (Redis) could not be reached or answered with an error."""
