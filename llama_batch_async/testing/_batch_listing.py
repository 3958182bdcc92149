"""The fake's v2 batches (``/api/v2/batches``), without I/O: store, filters, validation, tokens.

`BatchListing` is a part of `Listing` (a base class): it shares the listing's
options (``max_limit``, ``default_limit``, ``total_size``, ``repeat_token``,
progress) and its page tokens, so every v1 misbehaviour applies to v2 too. The
v2 listing pages by ``page_token`` only; there is no offset.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Final

from ._batches import BATCH_STATUSES, complete_batch, make_batches
from ._options import ListingOptions
from ._progress import Schedule, advance_batches, plan_batch

__all__ = ["BATCH_FILTERS", "BatchListing", "PageTokens", "validation_error"]

BATCH_FILTERS: Final[tuple[str, ...]] = (
    "status",
    "project_id",
    "organization_id",
    "source_directory_id",
    "created_at_on_or_after",
    "created_at_on_or_before",
)
"""The v2 list's filter parameters (every one optional)."""

_BOUNDS: Final[tuple[str, ...]] = ("created_at_on_or_after", "created_at_on_or_before")
_EXPANDABLE: Final[tuple[str, ...]] = ("results",)


def validation_error(kind: str, name: str, message: str, value: str, **ctx: object) -> object:
    """One FastAPI-style 422 ``detail`` entry for query parameter ``name``."""
    error: dict[str, object] = {"type": kind, "loc": ["query", name], "msg": message}
    error["input"] = value
    if ctx:
        error["ctx"] = ctx
    return error


class PageTokenError(ValueError):
    """A page token the server did not issue, or issued for other filters."""


class PageTokens:
    """Signed page tokens: urlsafe base64 of ``offset:filter-digest:salt`` plus an HMAC."""

    def __init__(self) -> None:
        self._secret = secrets.token_bytes(16)

    @staticmethod
    def _digest(filters: Mapping[str, str]) -> str:
        text = json.dumps(sorted(filters.items()), separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def issue(self, offset: int, filters: Mapping[str, str]) -> str:
        """A fresh token pointing at ``offset`` under ``filters``."""
        payload = f"{offset}:{self._digest(filters)}:{secrets.token_hex(4)}"
        mac = hmac.new(self._secret, payload.encode(), hashlib.sha256).hexdigest()[:16]
        return base64.urlsafe_b64encode(f"{payload}:{mac}".encode()).decode().rstrip("=")

    def read(self, token: str, filters: Mapping[str, str]) -> int:
        """The offset a token points at.

        Raises:
            PageTokenError: Not a token of this server, or made under other filters.
        """
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            payload, mac = raw.rsplit(":", 1)
            offset_text, digest, _salt = payload.split(":")
            offset = int(offset_text)
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            msg = "Invalid page_token"
            raise PageTokenError(msg) from exc
        expected = hmac.new(self._secret, payload.encode(), hashlib.sha256).hexdigest()[:16]
        if not hmac.compare_digest(mac, expected) or offset < 0:
            msg = "Invalid page_token"
            raise PageTokenError(msg)
        if digest != self._digest(filters):
            msg = "page_token does not match the request's filters"
            raise PageTokenError(msg)
        return offset


def _parse_datetime(text: str) -> datetime | None:
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


class BatchListing(ListingOptions):
    """The v2 batches endpoints' answers as plain values (a base of `Listing`).

    ``answer_batches(query)`` answers the list, ``answer_batch(id, query)`` one
    batch; each returns ``(status, payload)``. Batches are served newest
    first, as stored; ``results`` only with ``expand=results``.
    """

    # Set by `Listing.__init__`; declared here for the type checker.
    project_organizations: dict[str, str]
    _tokens: PageTokens
    _progressing: bool

    def _init_batches(self, batches: int | Sequence[Mapping[str, Any]]) -> None:
        self.batches: list[dict[str, Any]] = []
        self._batch_schedules: dict[str, Schedule] = {}
        self._fixed_batch_token: str | None = None
        self.set_batches(batches)

    # ------------------------------------------------------------------ answers

    def answer_batches(self, query: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """Answer one ``GET /api/v2/batches``: 200 with a page, 422 with details, or 400."""
        errors: list[object] = []
        filters = {name: query[name] for name in BATCH_FILTERS if name in query}
        limit = self.default_limit
        if "page_size" in query:
            text = query["page_size"]
            try:
                limit = int(text.strip())
            except ValueError:
                errors.append(
                    validation_error(
                        "int_parsing", "page_size", "Input should be a valid integer", text
                    )
                )
            else:
                if limit < 1:
                    errors.append(
                        validation_error(
                            "greater_than_equal", "page_size", "Input should be >= 1", text, ge=1
                        )
                    )
        status = filters.get("status")
        if status is not None and status not in BATCH_STATUSES:
            expected = ", ".join(f"'{item}'" for item in BATCH_STATUSES)
            errors.append(
                validation_error(
                    "enum", "status", f"Input should be {expected}", status, expected=expected
                )
            )
        bounds: dict[str, datetime] = {}
        for name in _BOUNDS:
            if name in filters:
                moment = _parse_datetime(filters[name])
                if moment is None:
                    errors.append(
                        validation_error(
                            "datetime_from_date_parsing",
                            name,
                            "Input should be a valid datetime",
                            filters[name],
                        )
                    )
                else:
                    bounds[name] = moment
        errors.extend(self._expand_errors(query))
        if errors:
            return 422, {"detail": errors}
        offset = 0
        token = query.get("page_token")
        if token:
            try:
                offset = self._tokens.read(token, filters)
            except PageTokenError as exc:
                return 400, {"detail": str(exc)}
        return 200, self._batch_page(filters, bounds, offset, limit, self._expands(query))

    def answer_batch(self, batch_id: str, query: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """Answer one ``GET /api/v2/batches/{batch_id}``: 200, 404 or 422."""
        errors = self._expand_errors(query)
        if errors:
            return 422, {"detail": errors}
        self._advance_batches()
        for batch in self.batches:
            if batch.get("id") == batch_id and self._batch_matches(batch, query, {}):
                return 200, self._served(batch, expand=self._expands(query))
        return 404, {"detail": "Batch not found"}

    @staticmethod
    def _expands(query: Mapping[str, str]) -> bool:
        return "results" in query.get("expand", "").split(",")

    @staticmethod
    def _expand_errors(query: Mapping[str, str]) -> list[object]:
        text = query.get("expand")
        if text is None:
            return []
        unknown = [name for name in text.split(",") if name not in _EXPANDABLE]
        return [
            validation_error("literal_error", "expand", "Input should be 'results'", name)
            for name in unknown
        ]

    @staticmethod
    def _served(batch: Mapping[str, Any], *, expand: bool) -> dict[str, Any]:
        served = dict(batch)
        if not expand and "results" in served:
            served["results"] = None
        return served

    def _batch_page(
        self,
        filters: Mapping[str, str],
        bounds: Mapping[str, datetime],
        offset: int,
        limit: int,
        expand: bool,  # noqa: FBT001 - private
    ) -> dict[str, Any]:
        self._advance_batches()
        selected = [batch for batch in self.batches if self._batch_matches(batch, filters, bounds)]
        if self.max_limit is not None:
            limit = min(limit, self.max_limit)
        items = selected[offset : offset + limit]
        end = offset + len(items)
        payload: dict[str, Any] = {
            "items": [self._served(batch, expand=expand) for batch in items],
            "next_page_token": None,
        }
        if self.repeat_token:
            if self._fixed_batch_token is None:
                self._fixed_batch_token = self._tokens.issue(end, filters)
            payload["next_page_token"] = self._fixed_batch_token
        elif end < len(selected):
            payload["next_page_token"] = self._tokens.issue(end, filters)
        payload["total_size"] = len(selected) if self.total_size else None
        return payload

    def _batch_matches(
        self, batch: Mapping[str, Any], filters: Mapping[str, str], bounds: Mapping[str, datetime]
    ) -> bool:
        for name in ("status", "project_id", "source_directory_id"):
            if name in filters and batch.get(name) != filters[name]:
                return False
        organization = filters.get("organization_id")
        if organization is not None and self.batch_organization(batch) != organization:
            return False
        if bounds:
            created = batch.get("created_at")
            moment = _parse_datetime(created) if isinstance(created, str) else None
            if moment is None:
                return False
            after = bounds.get("created_at_on_or_after")
            before = bounds.get("created_at_on_or_before")
            if (after is not None and moment < after) or (before is not None and moment > before):
                return False
        return True

    def batch_organization(self, batch: Mapping[str, Any]) -> str | None:
        """The organization a batch belongs to: its own key, else its project's."""
        if "organization_id" in batch:
            value = batch["organization_id"]
            return None if value is None else str(value)
        project = batch.get("project_id")
        return self.project_organizations.get(project) if isinstance(project, str) else None

    # ------------------------------------------------------------------ batches

    def set_batches(self, batches: int | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Replace every v2 batch.

        Args:
            batches: How many synthetic batches to generate (seeded), or the
                batches themselves, newest first (missing required fields filled in).

        Returns:
            The new batch dicts, the same objects as in `batches`.
        """
        if isinstance(batches, int):
            self.batches[:] = make_batches(batches, seed=self.seed)
        else:
            self.batches[:] = [complete_batch(batch) for batch in batches]
        self._batch_schedules.clear()
        if self._progressing:
            now = self.clock()
            for batch in self.batches:
                self._schedule_batch(batch, now)
        return self.batches

    def insert_batches(
        self, batches: Sequence[Mapping[str, Any]], *, at: int = 0
    ) -> list[dict[str, Any]]:
        """Insert batches (by default at the head: newest); returns the inserted dicts."""
        new = [complete_batch(batch) for batch in batches]
        self.batches[at:at] = new
        if self._progressing:
            now = self.clock()
            for batch in new:
                self._schedule_batch(batch, now)
        return new

    def remove_batches(self, ids: str | Iterable[str]) -> list[dict[str, Any]]:
        """Remove batches by id (unknown ids are ignored); returns the removed dicts."""
        wanted = {ids} if isinstance(ids, str) else set(ids)
        removed = [batch for batch in self.batches if batch.get("id") in wanted]
        self.batches[:] = [batch for batch in self.batches if batch.get("id") not in wanted]
        for batch_id in wanted:
            self._batch_schedules.pop(batch_id, None)
        return removed

    def update_batch(self, batch_id: str, **fields: Any) -> dict[str, Any]:  # noqa: ANN401
        """Change fields of one batch in place.

        Raises:
            KeyError: No batch has that id.
        """
        for batch in self.batches:
            if batch.get("id") == batch_id:
                batch.update(fields)
                return batch
        raise KeyError(batch_id)

    # ------------------------------------------------------------------ progress

    def _start_batch_progress(self) -> None:
        now = self.clock()
        for batch in self.batches:
            self._schedule_batch(batch, now)

    def _schedule_batch(self, batch: Mapping[str, Any], now: float) -> None:
        schedule = plan_batch(batch, now, seed=self.seed, span=self.progress_seconds)
        if schedule is not None:
            self._batch_schedules[batch["id"]] = schedule

    def _advance_batches(self) -> None:
        if self._batch_schedules:
            advance_batches(self.batches, self._batch_schedules, self.clock())
