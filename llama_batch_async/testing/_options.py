"""The fake's options, declared once: what `Listing` and `FakeLlamaCloud` take as keywords.

`ListingOptions` holds how the listing answers (paging kind, caps, totals,
misbehaviours, progress); `ServerOptions` adds what only the HTTP server does
(address, API key, latency, rate limit). They are the bases of `Listing` and
`FakeLlamaCloud`, so each option is one attribute here: its default, its check
(the library's one ``ValueError`` wording, `_validate`), and its meaning. The
checks run at construction and again whenever a test changes an option on a
running fake (``cloud.max_limit = 5``). An unknown keyword is a ``TypeError``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Literal

import attrs

from llama_batch_async._validate import (
    check_choice,
    check_count,
    check_flag,
    check_seconds,
    must_be,
)

__all__ = ["PAGING_KINDS", "ListingOptions", "PagingKind", "ServerOptions", "check_option_names"]

PagingKind = Literal["offset", "both", "token-ignored", "token"]
"""How the fake pages, one of the ways a real server may read the reference:

- ``"offset"``: honours ``offset``, sends no ``next_page_token``;
- ``"both"``: sends tokens and honours both ``page_token`` and ``offset``;
- ``"token-ignored"``: sends tokens but ignores ``page_token`` (a request
  without ``offset`` gets the first page again);
- ``"token"``: sends tokens and honours only ``page_token`` (ignores ``offset``).
"""

PAGING_KINDS: Final[tuple[PagingKind, ...]] = ("offset", "both", "token-ignored", "token")
"""Every `PagingKind`."""

_Check = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def _check(check: Callable[[str, object], object], *, optional: bool = False) -> _Check:
    """An attrs validator calling ``check(name, value)`` with the option's keyword name."""

    def validate(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not (optional and value is None):
            check(attribute.alias or attribute.name, value)

    return validate


def _int(name: str, value: object) -> None:
    if type(value) is not int:
        raise must_be(name, "an int", value)


def _text(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise must_be(name, "a str", value)


def _mapping(name: str, value: object) -> None:
    if not isinstance(value, Mapping):
        raise must_be(name, "a mapping of str to str", value)


def _callable(name: str, value: object) -> None:
    if not callable(value):
        raise must_be(name, "a callable returning seconds", value)


def _at_least(minimum: int) -> Callable[[str, object], object]:
    return lambda name, value: check_count(name, value, minimum=minimum)


def _seconds(*, allow_zero: bool) -> Callable[[str, object], object]:
    return lambda name, value: check_seconds(name, value, allow_zero=allow_zero)


_flag = _check(check_flag)
_paging_kind = _check(lambda name, value: check_choice(name, value, PAGING_KINDS), optional=True)


@attrs.define(slots=False, eq=False, repr=False, kw_only=True)
class ListingOptions:
    """How the fake's listing answers (v1 jobs and v2 batches alike).

    The keywords of `Listing` and of `FakeLlamaCloud` (which adds
    `ServerOptions`); each stays an attribute that a test may change later.
    """

    seed: int = attrs.field(default=0, validator=_check(_int))
    """The seed for synthetic jobs and batches, inserted ones and progress schedules."""
    _page_tokens: bool = attrs.field(default=False, alias="page_tokens", validator=_flag)
    """Issue ``next_page_token`` while more items remain (the same as ``paging="both"``)."""
    _paging: PagingKind | None = attrs.field(default=None, alias="paging", validator=_paging_kind)
    """How to page (a `PagingKind`); overrides ``page_tokens``. None: by ``page_tokens``."""
    total_size: bool = attrs.field(default=True, validator=_flag)
    """Include ``total_size`` (the filtered count) in pages."""
    max_limit: int | None = attrs.field(default=None, validator=_check(_at_least(1), optional=True))
    """Silently cap ``limit`` (v2: ``page_size``) at this many items."""
    default_limit: int = attrs.field(default=50, validator=_check(_at_least(1)))
    """The page size when the request sends none."""
    ignore_offset: bool = attrs.field(default=False, validator=_flag)
    """Misbehave: always serve the first page."""
    repeat_token: bool = attrs.field(default=False, validator=_flag)
    """Misbehave: always send the same ``next_page_token``."""
    organizations: Mapping[str, str] | None = attrs.field(
        default=None, validator=_check(_mapping, optional=True)
    )
    """``project_id`` to ``organization_id`` for records without their own
    ``"organization_id"``; None: the synthetic projects' organizations."""
    progress: bool = attrs.field(default=False, validator=_flag)
    """Move in-flight jobs and batches along as time passes: each starts running
    and then completes (or, about one in seven, fails) within ``progress_seconds``
    of `start_progress` (or of its insertion), on a seeded schedule."""
    progress_seconds: float = attrs.field(default=5.0, validator=_check(_seconds(allow_zero=False)))
    """How long progress takes to settle every job."""
    clock: Callable[[], float] = attrs.field(default=time.monotonic, validator=_check(_callable))
    """The monotonic clock that drives progress (tests may pass a fake)."""

    @property
    def paging(self) -> PagingKind:
        """How the fake pages now (a `PagingKind`); a test may set another."""
        if self._paging is not None:
            return self._paging
        return "both" if self._page_tokens else "offset"

    @paging.setter
    def paging(self, value: PagingKind) -> None:
        self._paging = value

    @property
    def page_tokens(self) -> bool:
        """Whether the fake sends ``next_page_token`` (every `paging` but ``"offset"``)."""
        return self.paging != "offset"

    @page_tokens.setter
    def page_tokens(self, value: bool) -> None:
        self._paging = "both" if check_flag("page_tokens", value) else "offset"


@attrs.define(slots=False, eq=False, repr=False, kw_only=True)
class ServerOptions(ListingOptions):
    """What only the HTTP server does: where it listens, the key it wants, its pace."""

    api_key: str | None = attrs.field(default=None, validator=_check(_text, optional=True))
    """When set, require ``Authorization: Bearer <api_key>`` (401 otherwise)."""
    host: str = attrs.field(default="127.0.0.1", validator=_check(_text))
    """The address to listen on (``127.0.0.2`` acts as another host on Linux)."""
    port: int = attrs.field(default=0, validator=_check(_at_least(0)))
    """The port to listen on; 0 lets the OS choose."""
    latency: float = attrs.field(default=0.0, validator=_check(_seconds(allow_zero=True)))
    """Seconds added before every list-endpoint response."""
    rate_limit: int | None = attrs.field(
        default=None, validator=_check(_at_least(1), optional=True)
    )
    """Requests per second the list endpoints answer (a moving window of one second);
    beyond it, 429 (its ``Retry-After`` as ``rate_limit_retry_after`` says)."""
    rate_limit_retry_after: str | None = attrs.field(
        default="seconds", validator=_check(_text, optional=True)
    )
    """The 429's ``Retry-After``: ``"seconds"`` for the whole seconds until a slot frees
    (at least 1), any other text sent as it is (``"0"``), None for no header at all
    (as LlamaCloud documents none)."""


def check_option_names(owner: type[ListingOptions], given: Iterable[str]) -> None:
    """Refuse keywords that are not options of ``owner`` (a `Listing` or `FakeLlamaCloud`).

    Raises:
        TypeError: An unknown keyword; the message lists the options.
    """
    known = [field.alias for field in attrs.fields(owner)]
    unknown = sorted(set(given) - set(known))
    if unknown:
        msg = (
            f"{owner.__name__} got unknown option(s) {', '.join(map(repr, unknown))}; "
            f"its options are {', '.join(known)}"
        )
        raise TypeError(msg)
