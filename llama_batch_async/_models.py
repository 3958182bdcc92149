"""Job records, named exactly as the reference names their fields.

No ``from __future__ import annotations`` here: cattrs reads these annotations
at runtime.
"""

import enum
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, Protocol

import attrs

__all__ = [
    "BATCH_TERMINAL_STATUSES",
    "FIELD_NAMES",
    "ITEM_TERMINAL_STATUSES",
    "JOB_FIELDS",
    "PSEUDO_MEMBER_CACHE",
    "TERMINAL_STATUSES",
    "Batch",
    "BatchConfig",
    "BatchItem",
    "BatchJob",
    "BatchJobConfig",
    "BatchJobReference",
    "BatchJobType",
    "BatchPage",
    "BatchResult",
    "BatchStatus",
    "ItemPage",
    "ItemStatus",
    "JobBuilder",
    "JobCancellation",
    "JobPage",
    "JobProgress",
    "JobStatus",
    "JobType",
    "OpenStrEnum",
    "make_job_fast",
]


# Pseudo-members kept per enum class: a hostile server sending a new value on
# every record cannot grow memory beyond this; later values still get a member,
# only not a cached one (equal by value, not identical).
PSEUDO_MEMBER_CACHE = 64
_PSEUDO: dict[type, dict[str, Any]] = {}


class OpenStrEnum(str, enum.Enum):
    """A string enum that admits values newer than the library.

    A value this library knows is its member (``JobStatus("failed") is
    JobStatus.FAILED``); any other string becomes a *pseudo-member*: an
    instance of the enum, equal to its string, with ``name`` the value in upper
    case, not listed by iteration. So a record's field is always typed as the
    enum, ``status == "running"`` and ``status is JobStatus.RUNNING`` both work
    for known values, and an unknown one round-trips through ``str()``,
    ``to_dict()`` and JSON unchanged. Non-strings are refused (``ValueError``).
    """

    def __str__(self) -> str:
        return str(self.value)

    @classmethod
    def _missing_(cls, value: object) -> Any:  # noqa: ANN401 - enum's own signature
        if type(value) is not str:
            return None
        cache: dict[str, Any] = _PSEUDO.setdefault(cls, {})
        member = cache.get(value)
        if member is None:
            member = str.__new__(cls, value)
            member._name_ = value.upper()
            member._value_ = value
            if len(cache) < PSEUDO_MEMBER_CACHE:
                cache[value] = member
        return member

    @property
    def is_known(self) -> bool:
        """True for a member this library declares, False for a newer value."""
        return type(self)._value2member_map_.get(self._value_) is self


class JobType(OpenStrEnum):
    """What a batch job does (the reference's ``job_type``); newer values are kept."""

    PARSE = "parse"
    EXTRACT = "extract"
    CLASSIFY = "classify"


class JobStatus(OpenStrEnum):
    """Where a batch job is in its life (the reference's ``status``); newer values are kept."""

    PENDING = "pending"
    RUNNING = "running"
    DISPATCHED = "dispatched"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """True for statuses a job never leaves: completed, failed, cancelled."""
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})


@attrs.frozen(slots=True)
class BatchJob:
    """One batch processing job, as the list endpoint returns it.

    Fields are named exactly as the reference names them. An enum field holds
    the `JobType` / `JobStatus` member for a value this library knows and a
    pseudo-member of the same enum for one it does not (a newer server), so a
    walk never breaks on a new status. Timestamps are timezone-aware
    `datetime` objects (UTC when the server sends no offset). Records are frozen and hashable.
    """

    id: str
    # A string given to the constructor becomes the enum (a pseudo-member if newer).
    job_type: JobType = attrs.field(converter=JobType)
    project_id: str
    status: JobStatus = attrs.field(converter=JobStatus)
    total_items: int
    completed_at: datetime | None = None
    created_at: datetime | None = None
    directory_id: str | None = None
    effective_at: datetime | None = None
    error_message: str | None = None
    failed_items: int | None = None
    job_record_id: str | None = None
    processed_items: int | None = None
    skipped_items: int | None = None
    started_at: datetime | None = None
    updated_at: datetime | None = None
    workflow_id: str | None = None

    @property
    def is_terminal(self) -> bool:
        """True once the job is completed, failed or cancelled."""
        return self.status in TERMINAL_STATUSES

    def to_dict(self) -> dict[str, str | int | None]:
        """The record as the reference's JSON object, ready for `json.dumps`.

        Field names and order are the reference's; enums become the values the
        server sent; timestamps become ISO 8601 in UTC with a ``Z``.
        """
        return {name: _json_value(getattr(self, name)) for name in FIELD_NAMES}


# The one field table: the converter and the hot path (`_convert`) both read it.
JOB_FIELDS: tuple["attrs.Attribute[Any]", ...] = attrs.fields(BatchJob)
FIELD_NAMES = tuple(field.name for field in JOB_FIELDS)


def _json_value(value: object) -> str | int | None:
    if isinstance(value, datetime):
        utc = value.astimezone(timezone.utc)
        spec = "milliseconds" if utc.microsecond % 1000 == 0 else "microseconds"
        return utc.replace(tzinfo=None).isoformat(timespec=spec) + "Z"
    if isinstance(value, enum.Enum):
        return str(value.value)
    return value  # type: ignore[return-value]


def _builder_init() -> Callable[..., None]:
    """A plain ``__init__`` setting every field of `BatchJob` in table order.

    Generated from `JOB_FIELDS`, so the record's shape is stated once.
    """
    names = ", ".join(FIELD_NAMES)
    body = "".join(f"\n    self.{name} = {name}" for name in FIELD_NAMES)
    namespace: dict[str, Any] = {}
    exec(f"def __init__(self, {names}):{body}", namespace)  # noqa: S102 - our own field names
    init: Callable[..., None] = namespace["__init__"]
    return init


class JobBuilder(BatchJob):
    """A mutable view of `BatchJob`'s slots, used only to build records fast.

    attrs' frozen ``__init__`` sets each slot through ``object.__setattr__``:
    about 1.45 µs for 17 fields, against 0.37 µs for plain slot stores. This
    subclass adds no slots, so its layout is `BatchJob`'s, and it undoes the
    frozen ``__setattr__`` / ``__delattr__`` (both, or CPython keeps the slow
    slot wrapper). `make_job_fast` (and `_convert._fast_job`, inlined)
    re-labels each new object as a `BatchJob` before anyone else can see it.
    `BatchJob` itself has no mutable base.
    """

    __slots__ = ()
    __setattr__ = object.__setattr__
    __delattr__ = object.__delattr__
    __init__ = _builder_init()


def make_job_fast(*values: object) -> BatchJob:
    """A `BatchJob` from already-structured values in field order, without attrs' checks.

    Args:
        values: One value per field of `BatchJob`, in table order, each already
            of its field's type (the caller has checked them).
    """
    job: BatchJob = JobBuilder(*values)
    job.__class__ = BatchJob
    return job


class _Resumable(Protocol):
    def encode(self) -> str: ...


@attrs.frozen(slots=True)
class JobPage:
    """One page of a walk, as `JobPager.pages` yields it.

    Attributes:
        items: The jobs of this page not already yielded earlier in the walk.
        next_page_token: The server's token for the next page, if it sent one.
        total_size: The server's (possibly estimated) count of matching jobs, for
            display only; None when the server did not say.
        offset: The position of this page's first job in the listing.
    """

    items: tuple[BatchJob, ...]
    next_page_token: str | None
    total_size: int | None
    offset: int
    _position: _Resumable = attrs.field(repr=False, eq=False)

    @property
    def cursor(self) -> str:
        """Opaque text to resume the walk right after this page.

        Pass it back as ``client.list_jobs(<same filters>, resume_from=page.cursor)``,
        in this process or another; it is refused under other filters.
        """
        return self._position.encode()


# ---------------------------------------------------------------- v2: batches


class BatchStatus(OpenStrEnum):
    """Where a v2 batch is in its life (``status``, upper case); newer values are kept.

    ``THROTTLED`` is a waiting state; ``FAILED`` means the orchestration failed,
    so per-file results are then unreliable.
    """

    PENDING = "PENDING"
    THROTTLED = "THROTTLED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_terminal(self) -> bool:
        """True for statuses a batch never leaves: completed, failed, cancelled."""
        return self in BATCH_TERMINAL_STATUSES


BATCH_TERMINAL_STATUSES = frozenset(
    {BatchStatus.COMPLETED, BatchStatus.FAILED, BatchStatus.CANCELLED}
)


class BatchJobType(OpenStrEnum):
    """The product job a v2 batch runs per file (``config.job.type``); newer values are kept."""

    PARSE_V2 = "parse_v2"
    EXTRACT_V2 = "extract_v2"


@attrs.frozen(slots=True)
class BatchJobConfig:
    """The job a batch creates for each file (``config.job``).

    Attributes:
        type: The product job type.
        configuration_id: The product configuration or built-in preset id.
    """

    type: BatchJobType = attrs.field(converter=BatchJobType)
    configuration_id: str


@attrs.frozen(slots=True)
class BatchConfig:
    """A batch's configuration snapshot (``config``)."""

    job: BatchJobConfig


@attrs.frozen(slots=True)
class BatchJobReference:
    """A job a batch produced for one file (``results[].job_reference``).

    Its own progress lives at that product's job endpoint, not here.
    """

    id: str
    type: BatchJobType = attrs.field(converter=BatchJobType)


@attrs.frozen(slots=True)
class BatchResult:
    """One source-directory file of a batch (``results[]``).

    Attributes:
        source_directory_file_id: The file: the stable key of the entry.
        error_message: Set when the batch could not create or map a job for it.
        job_reference: The job made for the file, if any.
    """

    source_directory_file_id: str
    error_message: str | None = None
    job_reference: BatchJobReference | None = None


@attrs.frozen(slots=True)
class Batch:
    """One v2 batch (``GET /api/v2/batches``), fields named as the wire names them.

    ``results`` is None unless asked for (``get_batch(..., expand_results=True)``)
    and may be None while the batch runs. Timestamps are timezone-aware.
    Records are frozen and hashable.
    """

    id: str
    project_id: str
    source_directory_id: str
    status: BatchStatus = attrs.field(converter=BatchStatus)
    config: BatchConfig
    created_at: datetime | None = None
    updated_at: datetime | None = None
    results: tuple[BatchResult, ...] | None = None

    @property
    def is_terminal(self) -> bool:
        """True once the batch is completed, failed or cancelled."""
        return self.status in BATCH_TERMINAL_STATUSES

    def to_dict(self) -> dict[str, Any]:
        """The record as the wire's JSON object, ready for `json.dumps`.

        Enums become the values the server sent (newer ones included);
        timestamps become ISO 8601 in UTC with a ``Z``.
        """
        return _to_json(self)  # type: ignore[no-any-return]


def _to_json(value: object) -> Any:  # noqa: ANN401 - a JSON value
    fields: tuple[attrs.Attribute[Any], ...] | None = getattr(type(value), "__attrs_attrs__", None)
    if fields is not None:
        return {field.name: _to_json(getattr(value, field.name)) for field in fields}
    if isinstance(value, tuple):
        return [_to_json(item) for item in value]
    return _json_value(value)


@attrs.frozen(slots=True)
class BatchPage:
    """One page of a v2 walk, as `BatchPager.pages` yields it.

    Attributes:
        items: The batches of this page not already yielded earlier in the walk.
        next_page_token: The server's token for the next page, if it sent one.
        total_size: The server's count of matching batches, if it said.
    """

    items: tuple[Batch, ...]
    next_page_token: str | None
    total_size: int | None
    _position: _Resumable = attrs.field(repr=False, eq=False)

    @property
    def cursor(self) -> str:
        """Opaque text to resume the walk right after this page.

        Pass it back as ``client.list_batches(<same filters>, resume_from=page.cursor)``;
        it is refused under other filters, and by ``list_jobs``.
        """
        return self._position.encode()


# ---------------------------------------------------------------- v1: one job, its items


@attrs.frozen(slots=True)
class JobProgress:
    """One job's status (``GET /api/v1/beta/batch-processing/{job_id}``), as `get_job` returns it.

    Attributes:
        job: The job's record: the same `BatchJob` a listing yields.
        progress_percentage: How far the job is, 0 to 100, as the server says.
    """

    job: BatchJob
    progress_percentage: float

    @property
    def id(self) -> str:
        """The job's id (``job.id``)."""
        return self.job.id

    @property
    def is_terminal(self) -> bool:
        """True once the job is completed, failed or cancelled."""
        return self.job.is_terminal

    def to_dict(self) -> dict[str, Any]:
        """The record as the wire's JSON object, ready for `json.dumps`."""
        return {"job": self.job.to_dict(), "progress_percentage": self.progress_percentage}


class ItemStatus(OpenStrEnum):
    """Where one item (file) of a job is (``status``); newer values are kept.

    Items have ``processing`` and ``skipped``, which jobs do not.
    """

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """True for statuses an item never leaves: completed, failed, skipped, cancelled."""
        return self in ITEM_TERMINAL_STATUSES


ITEM_TERMINAL_STATUSES = frozenset(
    {ItemStatus.COMPLETED, ItemStatus.FAILED, ItemStatus.SKIPPED, ItemStatus.CANCELLED}
)


@attrs.frozen(slots=True)
class BatchItem:
    """One item (file) of a batch job (``GET .../{job_id}/items``), named as the reference names it.

    Attributes:
        item_id: The item's id.
        item_name: The item's name (the file name).
        status: Where the item is (`ItemStatus`; a newer value is kept).
        job_id: The underlying parse/extract job made for the item, if any.
        job_record_id: The job record, if any.
        error_message: Why the item failed, if it did.
        skip_reason: Why it was skipped (``already_processed``, ``size_limit_exceeded``, ...).
        started_at: When processing started.
        completed_at: When processing ended.
        effective_at: The reference's ``effective_at``.
    """

    item_id: str
    item_name: str
    status: ItemStatus = attrs.field(converter=ItemStatus)
    job_id: str | None = None
    job_record_id: str | None = None
    error_message: str | None = None
    skip_reason: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    effective_at: datetime | None = None

    @property
    def id(self) -> str:
        """The item's id (``item_id``): what a walk drops repeats by."""
        return self.item_id

    @property
    def is_terminal(self) -> bool:
        """True once the item is completed, failed, skipped or cancelled."""
        return self.status in ITEM_TERMINAL_STATUSES

    def to_dict(self) -> dict[str, Any]:
        """The record as the reference's JSON object, ready for `json.dumps`."""
        return _to_json(self)  # type: ignore[no-any-return]


@attrs.frozen(slots=True)
class ItemPage:
    """One page of a walk over a job's items, as `ItemPager.pages` yields it.

    Attributes:
        items: The items of this page not already yielded earlier in the walk.
        next_page_token: The server's token for the next page, if it sent one.
        total_size: The server's count of matching items, if it said.
        offset: The position of this page's first item in the listing.
    """

    items: tuple[BatchItem, ...]
    next_page_token: str | None
    total_size: int | None
    offset: int
    _position: _Resumable = attrs.field(repr=False, eq=False)

    @property
    def cursor(self) -> str:
        """Opaque text to resume the walk right after this page.

        Pass it back as ``client.list_job_items(<same job id and status>,
        resume_from=page.cursor)``; it is refused for another job or filter.
        """
        return self._position.encode()


@attrs.frozen(slots=True)
class JobCancellation:
    """What ``POST .../{job_id}/cancel`` answers, as `cancel_job` returns it.

    Attributes:
        job_id: The job's id.
        status: The job's status now (``cancelled``).
        processed_items: Items processed before the cancel, if the server said.
        message: The server's message, if any.
    """

    job_id: str
    status: JobStatus = attrs.field(converter=JobStatus)
    processed_items: int | None = None
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The record as the wire's JSON object, ready for `json.dumps`."""
        return _to_json(self)  # type: ignore[no-any-return]
