"""The upload core of resumable uploads: create, head, append at an offset, complete, cancel.

It knows offsets, lengths, the lock, the spool and the job; it knows no HTTP header. tus 1.0 and the IETF
draft (``frontdoor.tus``, ``frontdoor.draft``) only translate their headers into these calls.

One job model for every way in: creation makes a SPOOLING job (``resumable``, ``bytesTotal`` set); each append
writes the job's ``.part`` through the single-request spool code (:class:`frontdoor.appendfile.AppendWriter`);
``bytesReceived`` is the durable offset; the append that reaches the length fsyncs, renames, records the
sha256, moves the job to SPOOLED and hands it to the actors exactly as ``POST /api/upload`` does. What a request
may do in which phase is the pure table of :mod:`frontdoor.resource`; the append itself is
:class:`frontdoor.append.Append`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio

from focalpoint_upload.frontdoor.admission import ATTEMPT_ID, limit_error
from focalpoint_upload.frontdoor.append import Append, Checksum
from focalpoint_upload.frontdoor.appendfile import AppendWriter, HashStates, durable_size, hash_prefix
from focalpoint_upload.frontdoor.context import Frontdoor
from focalpoint_upload.frontdoor.errors import (
    bad_request,
    empty_file,
    insufficient_storage,
    not_found,
    too_large,
    unsupported_media_type,
    upload_complete,
    upload_gone,
    upload_locked,
)
from focalpoint_upload.frontdoor.ingest import media_type_allowed
from focalpoint_upload.frontdoor.locker import Hold, Locker, UploadLeases
from focalpoint_upload.frontdoor.pace import Pace, RedisCounter
from focalpoint_upload.frontdoor.resource import Op, Verdict, check_append, decide, expires_at, phase_of
from focalpoint_upload.frontdoor.space import outstanding, space_problem
from focalpoint_upload.frontdoor.spool import remove_spool
from focalpoint_upload.jobs import (
    ANONYMOUS_OWNER,
    ErrorCode,
    Event,
    IllegalTransition,
    Job,
    JobNotFound,
    StaleJob,
    State,
    failure,
    new_job_id,
)
from focalpoint_upload.jobs.codes import MESSAGES
from focalpoint_upload.jobs.spool import Spool, afail_spooling

log = logging.getLogger("focalpoint.frontdoor")
LOCK_TTL_S = 6.0  # a dead front door's lease frees itself this long after its last renewal
LOCK_WAIT_S = 8.0  # a newcomer waits this long for a lease (takeover, or a dead holder's expiry), then 423


@dataclass(frozen=True)
class NewUpload:
    length: int | None
    attempt_id: str | None  # None: a plain tus client; the upload URL is its only handle
    file_name: str | None
    media_type: str | None
    client_ip: str
    request_id: str
    owner: str = ANONYMOUS_OWNER  # the principal's key: the job's owner; its attempt ids are its own
    limit_owner: str | None = None  # the owner as the limiter keys it (None: anonymous, keyed by IP)
    limit: int | None = None  # the largest file this principal may upload (the token's max_bytes); None: setting


@dataclass(frozen=True)
class Offset:
    """What HEAD reports: only bytes that are on disk."""

    job: Job
    offset: int
    length: int
    expires_at: float | None

    @property
    def complete(self) -> bool:
        return self.offset >= self.length


class UploadCore:
    def __init__(self, fd: Frontdoor, locker: Locker, pace: Pace | None = None) -> None:
        self.fd, self.locker, self.pace, self.hashes = fd, locker, pace, HashStates()

    async def paced(self, job_id: str, owner: str) -> None:
        """Count a request on an existing upload (PATCH, HEAD, DELETE); 429 beyond the per-upload rate. Counted
        per owner: a stranger's requests for an upload URL never spend its owner's budget."""
        if self.pace is not None and len(job_id) <= 64:
            error = await self.pace.check(f"{owner}/{job_id}")
            if error is not None:
                raise error

    # --- create -----------------------------------------------------------------------------------------------
    async def create(self, new: NewUpload) -> tuple[Job, bool]:
        """The upload's job, and whether this call made it (False: the attempt had one; nothing new is made).
        Raises the 400/413/415/429/507 a creation deserves; limits apply here, once per upload."""
        fd, s = self.fd, self.fd.settings
        if new.attempt_id is not None and not ATTEMPT_ID.match(new.attempt_id):
            raise bad_request("bad_attempt_id", "The attempt id must be 8-128 characters of A-Z a-z 0-9 _ -.")
        if new.attempt_id is not None:
            existing = await fd.store.find_by_attempt(new.attempt_id, new.owner)
            if existing is not None and not existing.ingest_failed:
                return existing, False
        if new.length is None:
            raise bad_request("length_required", "Declare the upload's length (Upload-Length).")
        if new.length == 0:
            raise empty_file()  # as POST /api/upload: nothing to send to Gemini
        limit = s.max_upload_bytes if new.limit is None else new.limit
        if new.length > limit:
            raise too_large(limit)
        media_type = (new.media_type or "application/octet-stream").split(";", 1)[0].strip().lower()
        if not media_type_allowed(media_type, s.allowed_media_types):
            raise unsupported_media_type(media_type, s.allowed_media_types)
        space = await fd.call(space_problem, s, new.length, outstanding(fd.inflight))
        if space is not None:
            raise insufficient_storage(space)
        if fd.limits is not None:
            decision = await fd.limits.check_new_upload(new.client_ip, new.limit_owner)
            if not decision.allowed:
                if fd.metrics is not None:
                    fd.metrics.ratelimit_rejected(decision.policy, degraded=decision.degraded)
                raise limit_error(decision, "Too many new uploads")
        now, job_id = fd.clock(), new_job_id()
        job = Job(job_id=job_id, attempt_id=new.attempt_id or f"tus-{job_id}", state=State.SPOOLING,
                  created_at=now, updated_at=now, bytes_total=new.length, file_name=new.file_name,
                  mime_type=media_type, request_id=new.request_id, client_ip=new.client_ip,
                  spool_path=str(Spool(s.spool_dir).file(job_id)), resumable=True, owner=new.owner)
        bound = await fd.store.claim(job, lambda j: j.ingest_failed)
        if bound is not None:  # the same attempt created meanwhile by another request
            return bound, False
        return job, True

    # --- head ---------------------------------------------------------------------------------------------
    async def head(self, job_id: str, owner: str) -> Offset:
        """The durable offset. An incomplete upload's lease is taken (from a dead request too) so that what a
        cut request received is written out and counted before the offset is read."""
        job = await self._job(job_id, Op.HEAD, owner)
        if job.state is not State.SPOOLING:
            total = job.bytes_total or 0
            return Offset(job, total, total, None)
        hold = await self._take(job_id)
        try:
            job = await self._job(job_id, Op.HEAD, owner)
            if job.state is not State.SPOOLING:  # completed by the request we took over from
                total = job.bytes_total or 0
                return Offset(job, total, total, None)
            offset = await self._durable(job)
            job = await self.fd.store.get(job_id) or job
            return Offset(job, offset, job.bytes_total or 0, expires_at(job, self.fd.settings.upload_expiry_s))
        finally:
            await hold.release()

    # --- append -------------------------------------------------------------------------------------------
    async def open_append(self, job_id: str, owner: str, offset: int, body: int | None,
                          checksum: Checksum | None) -> Append:
        """Take the upload's lease and open its ``.part`` at ``offset`` for this request's ``body`` bytes (None:
        unknown). Raises 404/409/410/413/423 as the upload's phase and the offset decide."""
        await self._job(job_id, Op.APPEND, owner)
        hold = await self._take(job_id)
        try:
            job = await self._job(job_id, Op.APPEND, owner)
            durable = await self._durable(job)
            total = job.bytes_total or 0
            error = check_append(durable, offset, total, body, self.fd.settings.max_append_bytes)
            if error is not None:
                raise error
            part = Spool.part(str(job.spool_path))
            whole = self.hashes.take(job_id, durable)
            if whole is None:
                whole = await self.fd.call(hash_prefix, part, durable) if durable else _sha256()
            writer = AppendWriter(part.parent, Path(str(job.spool_path)).name, self.fd.executor, durable, whole,
                                  checksum.hasher() if checksum is not None else None, hold.valid)
            await writer.open()
            return Append(self, job, hold, writer, checksum)
        except BaseException:
            await hold.release()
            raise

    # --- cancel (tus termination) -----------------------------------------------------------------------------
    async def cancel(self, job_id: str, owner: str) -> None:
        job = await self._job(job_id, Op.CANCEL, owner)
        try:
            job = await self.fd.store.transition(job_id, Event.CANCEL, known=job, **failure(ErrorCode.CANCELLED))
        except (IllegalTransition, StaleJob, JobNotFound):
            raise upload_gone("upload_gone", "The upload is finished and cannot be cancelled.") from None
        self.hashes.drop(job_id)
        # A request streaming into it stops at its next progress write; what is on disk goes now (a .part is
        # also removed by the sweeper, which never keeps one for a job that is not SPOOLING).
        await self.fd.call(remove_spool, job.spool_path)
        if job.streaming:  # stream-through opened a Gemini session: the actors let it go (as DELETE does)
            try:
                await self.fd.dispatch(self.fd.dispatcher.job_cancelled, job_id)
            except Exception:  # the stream's own next message finds the job CANCELLED too
                log.exception("dispatch_failed", extra={"fields": {"jobId": job_id}})

    # --- shared -------------------------------------------------------------------------------------------
    async def _job(self, job_id: str, op: Op, owner: str) -> Job:
        """``owner``'s upload ``job_id`` as ``op`` may see it; another owner's upload is 404 like an unknown one."""
        job = await self.fd.store.get(job_id, owner) if len(job_id) <= 64 else None
        if job is None:
            raise not_found("upload with that id")
        verdict = decide(phase_of(job, self.fd.clock(), self.fd.settings.upload_expiry_s), op)
        if verdict is Verdict.EXPIRE:
            await self.expire(job)
            raise upload_gone(ErrorCode.UPLOAD_EXPIRED, MESSAGES[ErrorCode.UPLOAD_EXPIRED])
        if verdict is Verdict.GONE:
            code = ErrorCode.UPLOAD_EXPIRED if job.error_code == ErrorCode.UPLOAD_EXPIRED else "upload_gone"
            raise upload_gone(code, f"The upload is {job.state} ({job.error_code}); start a new one.")
        if verdict is Verdict.LOCKED:
            raise upload_locked()
        if verdict is Verdict.COMPLETE:
            raise upload_complete(job.bytes_total or 0)
        return job

    async def expire(self, job: Job) -> None:
        self.hashes.drop(job.job_id)
        await afail_spooling(self.fd.store, job, ErrorCode.UPLOAD_EXPIRED, self.fd.call)

    async def _take(self, job_id: str) -> Hold:
        hold = await self.locker.take(job_id)
        if hold is None:
            raise upload_locked()
        return hold

    async def _durable(self, job: Job) -> int:
        """The offset a request may start at, with the record lowered if the file holds less (a crash)."""
        offset = await self.fd.call(durable_size, Spool.part(str(job.spool_path)), job.bytes_received)
        if offset < job.bytes_received:
            log.warning("upload_offset_lowered", extra={"fields": {"jobId": job.job_id, "recorded":
                                                                   job.bytes_received, "onDisk": offset}})
            await self.fd.store.update(job.job_id, expect=State.SPOOLING, known=job, bytes_received=offset)
        return offset


def _sha256() -> object:
    import hashlib

    return hashlib.sha256()


def redis_core(fd: Frontdoor, client: redis.asyncio.Redis) -> UploadCore:
    """The upload core of a front door whose leases live in ``client`` (the deployment's shared Redis)."""
    leases = UploadLeases(client, fd.settings.redis_namespace, LOCK_TTL_S)
    pace = Pace(RedisCounter(client, fd.settings.redis_namespace), fd.settings.upload_requests_per_minute, fd.clock)
    return UploadCore(fd, Locker(leases, LOCK_TTL_S, LOCK_WAIT_S), pace)
