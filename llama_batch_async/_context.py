"""A client's `WalkContext`: built from `BatchClient`'s arguments, or evolved for `with_options`.

`BatchClient.__init__` and `BatchClient.with_options` delegate here: the
settings checks (in their order, before any I/O), the choice between an owned
aiohttp session, a caller's session and a custom transport, and the limiter
binding. The client keeps only the context and its own open/closed state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs

from ._config import make_config
from ._http._limiter import Limiter, LocalLimiter
from ._http._retry import RetryPolicy
from ._http._transport import AiohttpTransport, Transport
from ._paging._pager import WalkContext
from ._validate import check_count, check_seconds

if TYPE_CHECKING:  # annotations only: aiohttp is imported at run time by _transport alone
    import aiohttp

__all__ = ["evolve_context", "local_gate", "make_context"]


def make_context(
    *,
    api_key: str | None,
    base_url: str | None,
    session_cookie: str | None,
    session: aiohttp.ClientSession | None,
    transport: Transport | None,
    timeout: float,
    max_retries: int,
    retry_after_cap: float,
    trust_env: bool,
    trace_configs: Sequence[aiohttp.TraceConfig] | None,
    connection_limit: int,
    max_response_bytes: int,
    limiter: Limiter | None,
) -> WalkContext:
    """Check `BatchClient`'s settings and build what its walks borrow.

    Raises:
        ValueError: As `BatchClient` documents, naming the parameter.
    """
    config = make_config(
        api_key=api_key,
        base_url=base_url,
        session_cookie=session_cookie,
        timeout=timeout,
        max_retries=max_retries,
        retry_after_cap=retry_after_cap,
        trust_env=trust_env,
    )
    if session is not None and (config.trust_env or trace_configs):
        raise ValueError(
            "trust_env and trace_configs configure the client's own session; "
            "with session=..., set them on that session instead"
        )
    check_count("connection_limit", connection_limit, minimum=1)
    if transport is None:
        transport = AiohttpTransport(
            timeout=config.timeout,
            session=session,
            trust_env=config.trust_env,
            trace_configs=trace_configs,
            connection_limit=connection_limit,
            max_response_bytes=max_response_bytes,
        )
    elif session is not None:
        raise ValueError("pass session or transport, not both")
    elif config.trust_env or trace_configs:
        raise ValueError(
            "trust_env and trace_configs configure the client's own session; "
            "with transport=..., configure the transport instead"
        )
    if limiter is None:
        limiter = LocalLimiter()
    else:
        # A shared limiter derives its default key from this client's base URL and
        # API key (hashed); `bind` is optional, beside the protocol.
        bind = getattr(limiter, "bind", None)
        if callable(bind):
            bind(config.base_url, config.api_key)
    return WalkContext(
        config=config,
        transport=transport,
        policy=RetryPolicy(max_retries=config.max_retries, retry_after_cap=config.retry_after_cap),
        gate=limiter,
        sleep=asyncio.sleep,
    )


def evolve_context(
    context: WalkContext,
    *,
    timeout: float | None,
    max_retries: int | None,
    retry_after_cap: float | None,
) -> WalkContext:
    """``context`` with the settings given (not None) changed: `BatchClient.with_options`.

    Raises:
        ValueError: A setting is invalid (the same checks as the constructor).
    """
    old = context.config
    config = attrs.evolve(
        old,
        timeout=old.timeout if timeout is None else check_seconds("timeout", timeout),
        max_retries=(
            old.max_retries
            if max_retries is None
            else check_count("max_retries", max_retries, minimum=0)
        ),
        retry_after_cap=(
            old.retry_after_cap
            if retry_after_cap is None
            else check_seconds("retry_after_cap", retry_after_cap, allow_zero=True, finite=False)
        ),
    )
    return attrs.evolve(
        context,
        config=config,
        policy=RetryPolicy(max_retries=config.max_retries, retry_after_cap=config.retry_after_cap),
    )


def local_gate(context: WalkContext) -> LocalLimiter | None:
    """The context's limiter when it is this process's own (the waits read its pause)."""
    gate = context.gate
    return gate if isinstance(gate, LocalLimiter) else None
