"""The job store's one key layout and one compare-and-set, shared by its sync and async faces.

Both faces (``jobs.store.RedisJobStore`` on redis-py, used by the actors on Dramatiq's threads, and
``jobs.astore.AsyncRedisJobStore`` on ``redis.asyncio``, used by the front door) run the same steps: compute the
new record with a *change* from this module, and write what :meth:`Layout.queue_write` says a change from the old
record to the new one is. Everything that decides *what* is written lives here, pure: the keys, the decoding,
the change functions and the commands; the faces only differ in ``await``.

How it is written (:meth:`Layout.plan`): the commands are recorded and sent as one :data:`APPLY_IF_VERSION`
script call that applies them only if the job's ``version`` is still the one the change was computed from, else
answers the current record to compute again. One round trip when the caller already holds the current record,
two when it has to be read first (WATCH/MULTI took three). When a transition hook queues a script of its own
(Lua cannot call EVAL), there is no plan and the faces fall back to WATCH + MULTI/EXEC with the same commands.

Keys, all under the namespace: ``job:{id}`` (hash), ``attempt:{owner}:{attemptId}`` (-> job id), ``open`` (sorted
set of non-final job ids scored by their last update, for the sweeper). AttemptIds are scoped per owner: two
owners may use the same id and get two jobs. The anonymous owner's attempts keep the key ``attempt:{attemptId}``
they had before jobs had owners, so records written then are still found (an attemptId never holds a ``:``, so
the two forms cannot collide).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from redis._parsers.encoders import Encoder
from redis.commands.core import CoreCommands

from focalpoint_upload.jobs.errors import IllegalTransition, JobNotFound, StaleJob
from focalpoint_upload.jobs.machine import Event, State, advance, is_final
from focalpoint_upload.jobs.record import ANONYMOUS_OWNER, Job

# Called with the pipeline (in MULTI), the job before and after every compare-and-set; what it queues on the
# pipeline commits with the change or not at all (``jobs.outbox.Outbox.on_transition``). It only queues
# commands, so the same hook serves a redis-py and a redis.asyncio pipeline.
TransitionHook = Callable[[Any, Job, Job], None]
Change = Callable[[Job], Job]

# KEYS: the attempt key. ARGV: the job key prefix. The job an attempt is bound to, in one round trip:
# {job id, flat HGETALL} or {} when the attempt is unbound.
FIND_BY_ATTEMPT = """
local id = redis.call('GET', KEYS[1])
if not id then return {} end
return {id, redis.call('HGETALL', ARGV[1] .. id)}
"""

# KEYS: the job. ARGV[1]: the version the change was computed from; then the commands, each as its word count
# followed by its words. 1: applied; otherwise the job's current record as a flat HGETALL ({}: it is gone).
APPLY_IF_VERSION = """
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[1] then return redis.call('HGETALL', KEYS[1]) end
local i = 2
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
return 1
"""
_SCRIPTED = frozenset({b"EVAL", b"EVALSHA", b"EVAL_RO", b"EVALSHA_RO", b"FCALL", b"MULTI", b"EXEC"})
_ENCODER = Encoder(encoding="utf-8", encoding_errors="strict", decode_responses=False)  # type: ignore[no-untyped-call]


class _Recorder(CoreCommands):
    """Takes the place of a pipeline: records the commands redis-py's methods would send."""

    def __init__(self) -> None:
        self.commands: list[list[bytes]] = []

    def execute_command(self, *args: Any, **options: Any) -> Any:
        self.commands.append([_ENCODER.encode(a) for a in args])  # type: ignore[no-untyped-call]
        return self


class Layout:
    """Key names and the write half of the compare-and-set for one namespace."""

    def __init__(self, namespace: str, final_ttl_s: float, on_transition: TransitionHook | None = None) -> None:
        self.ns = namespace
        self.ttl = max(1, int(final_ttl_s))
        self.on_transition = on_transition
        self.job_prefix = f"{namespace}:job:"
        self.open_key = f"{namespace}:open"

    def job_key(self, job_id: str) -> str:
        return self.job_prefix + job_id

    def attempt_key(self, owner: str, attempt_id: str) -> str:
        if owner == ANONYMOUS_OWNER:
            return f"{self.ns}:attempt:{attempt_id}"
        return f"{self.ns}:attempt:{owner}:{attempt_id}"

    def queue_claim(self, pipe: Any, job: Job) -> None:
        """Queue (in MULTI) the creation of ``job`` and the binding of its attempt to it."""
        pipe.set(self.attempt_key(job.owner, job.attempt_id), job.job_id)
        pipe.hset(self.job_key(job.job_id), mapping=job.to_hash())
        pipe.zadd(self.open_key, {job.job_id: job.updated_at})

    def queue_write(self, pipe: Any, old: Job, new: Job) -> None:
        """Queue (in MULTI) the change from ``old`` to ``new``: the record, the open set, the expiries and the
        transition hook, so that all of it commits together or not at all."""
        key = self.job_key(new.job_id)
        pipe.hset(key, mapping=new.to_hash())
        gone = [f for f in old.to_hash() if f not in new.to_hash()]
        if gone:
            pipe.hdel(key, *gone)
        if is_final(new.state):
            pipe.zrem(self.open_key, new.job_id)
            pipe.expire(key, self.ttl)
            pipe.expire(self.attempt_key(new.owner, new.attempt_id), self.ttl)
        else:
            pipe.zadd(self.open_key, {new.job_id: new.updated_at})
            if is_final(old.state):  # retried: it must not expire while it runs again
                pipe.persist(key)
                pipe.persist(self.attempt_key(new.owner, new.attempt_id))
        if self.on_transition is not None:
            self.on_transition(pipe, old, new)  # in the same MULTI (the webhook outbox, the storage budget)

    def plan(self, old: Job, new: Job) -> list[bytes] | None:
        """The ARGV of :data:`APPLY_IF_VERSION` writing ``old`` -> ``new`` (KEYS: the job), or None when a
        transition hook queues a script (then WATCH + MULTI/EXEC, :meth:`queue_write` on a pipeline)."""
        recorder = _Recorder()  # type: ignore[abstract]
        self.queue_write(recorder, old, new)
        args = [old.to_hash()["version"].encode()]
        for command in recorder.commands:
            if command[0].upper() in _SCRIPTED:
                return None
            args += [str(len(command)).encode(), *command]
        return args


def next_version(old: Job, change: Change, now: float) -> Job:
    """The record a compare-and-set writes: ``change(old)`` stamped with ``now`` and the next version."""
    return change(old).with_(updated_at=now, version=old.version + 1)


def transition_change(job_id: str, event: Event, expect: State | None, fields: dict[str, Any]) -> Change:
    """The change of ``JobStore.transition``: the state the table allows for ``event``, and ``fields``."""
    def change(job: Job) -> Job:
        if expect is not None and job.state != expect:
            raise StaleJob(job_id, expect, job.state)
        return job.with_(state=advance(job.state, event), **fields)

    return change


def update_change(job_id: str, expect: State, fields: dict[str, Any]) -> Change:
    """The change of ``JobStore.update``: ``fields``, if the job is still in state ``expect``."""
    def change(job: Job) -> Job:
        if job.state != expect:
            raise StaleJob(job_id, expect, job.state)
        return job.with_(**fields)

    return change


def modify_change(change: Change) -> Change:
    """``change`` refused if it moves the state (state moves go through ``transition``)."""
    def guarded(job: Job) -> Job:
        new = change(job)
        if new.state != job.state:
            raise IllegalTransition(job.state, "modify")
        return new

    return guarded


def decode(raw: dict[Any, Any]) -> dict[str, str]:
    return {text(k): text(v) for k, v in raw.items()}


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def job_from(raw: dict[Any, Any], owner: str | None) -> Job | None:
    """The job of an HGETALL answer, or None (missing, or not ``owner``'s when an owner is given)."""
    job = Job.from_hash(decode(raw)) if raw else None
    return job if job is not None and (owner is None or job.owner == owner) else None


def applied(answer: Any, old: Job) -> Job | None:
    """None if :data:`APPLY_IF_VERSION` applied the write; else the job's current record to compute again.
    Raises JobNotFound when the job is gone, and StaleJob-free :class:`Unversioned` when the stored record has
    no usable version (written before versions existed): the caller falls back to WATCH."""
    if answer == 1:
        return None
    if not answer:
        raise JobNotFound(old.job_id)
    current = Job.from_hash(decode(pairs(answer)))
    if current.version == old.version:  # the stored version field is not the text we wrote: no progress
        raise Unversioned(old.job_id)
    return current


class Unversioned(Exception):
    """The stored record's version cannot be compared as text (see :func:`applied`)."""


def pairs(flat: list[Any]) -> dict[Any, Any]:
    """A Lua script's flat HGETALL reply as a dict."""
    return dict(zip(flat[::2], flat[1::2], strict=True))
