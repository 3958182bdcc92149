"""The client's frozen configuration: argument, else environment, else default.

The API key and session cookie are ``repr=False``: they never reach a repr,
a log line or an exception message.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
from collections.abc import Mapping
from typing import Final
from urllib.parse import urlsplit

import attrs

from ._validate import check_count, check_flag, check_seconds

__all__ = [
    "API_KEY_ENV",
    "API_KEY_FALLBACK_ENV",
    "BASE_URL_ENV",
    "BATCHES_PATH",
    "CONGESTION_BETA",
    "CONGESTION_RECOVERY",
    "DECODE_IN_THREAD_BYTES",
    "DEFAULT_BACKOFF_BASE",
    "DEFAULT_BACKOFF_MAX",
    "DEFAULT_BASE_URL",
    "DEFAULT_CONNECTION_LIMIT",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_POLL_INTERVAL",
    "DEFAULT_PREFETCH",
    "DEFAULT_RATE_SLACK",
    "DEFAULT_REDIS_CONNECT_TIMEOUT",
    "DEFAULT_REDIS_RETRY_INTERVAL",
    "DEFAULT_REDIS_TIMEOUT",
    "DEFAULT_RETRY_AFTER_CAP",
    "DEFAULT_TIMEOUT",
    "ENDPOINT_PATH",
    "GUESS_FLOOR",
    "GUESS_SHARE",
    "LISTING_MEMORY",
    "MAX_PAGE_SIZE",
    "MAX_PREFETCH",
    "MAX_WINDOWS",
    "MIN_RATE",
    "OPEN_WINDOW",
    "RATE_WINDOW",
    "REDIS_URL_ENV",
    "SLOW_START_GROWTH",
    "SLOW_START_WINDOW",
    "Config",
    "is_loopback",
    "make_config",
]

# Every setting's environment variable and default, declared here once; the
# client, the walk, the watchers and the CLI import them from here.
API_KEY_ENV: Final = "LLAMA_CLOUD_API_KEY"
# The official llama-cloud SDK falls back to this one too (llama_cloud/_client.py).
API_KEY_FALLBACK_ENV: Final = "LLAMA_PARSE_API_KEY"
BASE_URL_ENV: Final = "LLAMA_CLOUD_BASE_URL"
REDIS_URL_ENV: Final = "LLAMA_BATCH_REDIS_URL"
"""The CLI's ``--redis-url`` default (the fleet limiter of ``llama_batch_async.redis``)."""
DEFAULT_BASE_URL: Final = "https://api.cloud.llamaindex.ai"
ENDPOINT_PATH: Final = "/api/v1/beta/batch-processing"
BATCHES_PATH: Final = "/api/v2/batches"
"""The v2 batches listing; one batch is ``BATCHES_PATH + "/" + id``."""
DEFAULT_TIMEOUT: Final = 60.0
"""Seconds one attempt of one page request may take."""
DEFAULT_MAX_RETRIES: Final = 4
"""Retries after the first attempt of each page request."""
DEFAULT_RETRY_AFTER_CAP: Final = 60.0
"""The longest ``Retry-After`` (seconds) slept through."""
DEFAULT_BACKOFF_BASE: Final = 0.5
"""Seconds of the first backoff's upper bound (doubling per attempt); a 429 without a
``Retry-After`` above 0 waits between half and all of it, never less."""
DEFAULT_BACKOFF_MAX: Final = 30.0
"""The largest backoff upper bound, in seconds."""

# The congestion control of the limiter (issue 22; docs/retries.md has the curve and
# the figures of docs/benchmarks.md's "What a walk costs the server").
CONGESTION_BETA: Final = 0.7
"""After a 429, the share of the accepted request rate the client keeps."""
CONGESTION_RECOVERY: Final = 8.0
"""Seconds the rate takes to climb back to where the last 429 came (then it probes past)."""
RATE_WINDOW: Final = 1.0
"""Seconds over which the accepted request rate is measured when a 429 comes."""
MIN_RATE: Final = 0.2
"""The slowest request rate (a second) the congestion control ever sets."""
SLOW_START_WINDOW: Final = 2.0
"""Requests a new client keeps in flight at first (all its walks together)."""
SLOW_START_GROWTH: Final = 0.5
"""Requests in flight added per success until the first 429 (doubling every two round trips)."""
OPEN_WINDOW: Final = 64.0
"""Requests in flight past which the client stops counting them (unlimited again)."""
DEFAULT_CONNECTION_LIMIT: Final = 100
"""The owned session's connection pool size."""
DEFAULT_MAX_RESPONSE_BYTES: Final = 64 * 1024 * 1024
"""The largest response body accepted, after decompression."""
DECODE_IN_THREAD_BYTES: Final = 1024 * 1024
"""Bodies larger than this (bytes) are decoded in a worker thread, off the event loop.

Measured on the 2-core dev machine: 12-17 ms a MiB to parse and structure a page, 7.7 ms
for a page of 1,000 jobs (0.6 MiB, decoded on the loop); 165 ms for 9.6 MiB.
"""
DEFAULT_PAGE_SIZE: Final = 100
"""Jobs per request (``limit``)."""
MAX_PAGE_SIZE: Final = 1000
"""The largest ``list_jobs`` page size: the vendor's schema bounds ``limit`` to 1-1000."""
# Page requests a walk keeps in flight ahead of its consumer, besides its own next
# one: at 80 ms per request a sequential walk waits ~8x longer (docs/benchmarks.md).
DEFAULT_PREFETCH: Final = 8
MAX_PREFETCH: Final = 32
GUESS_FLOOR: Final = 1
"""Guesses a walk may keep in flight with no hint of the listing's end, at least."""
GUESS_SHARE: Final = 0.12
"""With no hint of the end, guesses in flight per page already seen (the waste bound)."""
LISTING_MEMORY: Final = 256
"""Listing lengths a client remembers (one per query), for the next walk's guesses."""
MAX_WINDOWS: Final = 32
"""The most ``created_at`` windows a v2 walk may be split into (``list_batches(windows=N)``)."""
DEFAULT_POLL_INTERVAL: Final = 5.0
"""Seconds between polls of ``wait_for_jobs`` / ``watch_jobs`` while jobs change."""

# The fleet limiter (llama_batch_async.redis.RedisLimiter).
# Seconds each budget slot is held past the rate's period (see redis.py's docstring).
# Measured on this project's 2-core CI machine beside other test runs (load 3 to 8):
# the grant-to-arrival delays of 4 fleet workers spread over 7 to 57 ms, and a slack
# of 0 earned 1 to 5 429s a run where 0.1 earned none (docs/fleets.md).
DEFAULT_RATE_SLACK: Final = 0.1
"""Seconds a ``RedisLimiter`` budget slot is held past the rate's period."""
DEFAULT_REDIS_TIMEOUT: Final = 0.5
"""Seconds a ``RedisLimiter`` waits for one Redis reply before using its local fallback."""
# Set apart from the command timeout: a connection costs a handshake or more (TLS,
# AUTH, SELECT) before the first command, and a Redis 120 ms away spent the whole
# 0.5 s command budget on it, so it was never used (issue 24).
DEFAULT_REDIS_CONNECT_TIMEOUT: Final = 2.0
"""Seconds a ``RedisLimiter`` waits for a new connection to Redis to be set up."""
DEFAULT_REDIS_RETRY_INTERVAL: Final = 2.0
"""Seconds a ``RedisLimiter`` stays on its local fallback before trying Redis again."""


@attrs.frozen(slots=True)
class Config:
    """Everything a client needs to build and send requests."""

    api_key: str | None = attrs.field(repr=False)
    base_url: str
    session_cookie: str | None = attrs.field(repr=False)
    timeout: float
    max_retries: int
    retry_after_cap: float
    trust_env: bool
    """Read proxy variables and ``.netrc`` (for the client's own session)."""

    @property
    def credential_digest(self) -> str:
        """A short digest of the API key (else the session cookie): tells keys apart, shows none.

        What a stored checkpoint is tied to beside the base URL; 64 bits of a
        domain-separated SHA-256, so it matches no other digest of the key.
        """
        secret = self.api_key if self.api_key is not None else (self.session_cookie or "")
        return hashlib.sha256(b"llama_batch_async credential\n" + secret.encode()).hexdigest()[:16]

    @property
    def endpoint(self) -> str:
        """The list endpoint's full URL."""
        return self.base_url + ENDPOINT_PATH

    @property
    def batches_endpoint(self) -> str:
        """The v2 batches listing's full URL."""
        return self.base_url + BATCHES_PATH


def is_loopback(host: str | None) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1).

    Args:
        host: A URL's host name, without brackets or port.
    """
    if not host:
        return False
    if host.lower() == "localhost":
        return True  # not "*.localhost": some resolvers send those names to DNS
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# RFC 6265 4.1.1: cookie-value = *cookie-octet / ( DQUOTE *cookie-octet DQUOTE ); one
# or more octets here, so "abc; admin=1" cannot smuggle a second cookie.
_COOKIE_OCTETS = r"[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]+"
_COOKIE_VALUE = re.compile(rf'{_COOKIE_OCTETS}|"{_COOKIE_OCTETS}"')


def _check_session_cookie(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ValueError("session_cookie must be a non-empty string")
    if not _COOKIE_VALUE.fullmatch(value):
        # The value is a credential: say what is wrong, never what it is.
        raise ValueError(
            "session_cookie must be one cookie value: printable ASCII without "
            'spaces, ";", ",", "\\" or inner quotes (RFC 6265)'
        )
    return value


# Spaces and control characters (CR, LF, TAB, NUL, DEL): urlsplit drops some of them
# silently and a header or request line could carry the rest.
_URL_UNSAFE = re.compile(r"[\x00-\x20\x7f]")
_PORT = re.compile(r"[0-9]{1,5}")


def _port_text(netloc: str) -> str | None:
    """What follows the host in ``netloc`` after ``:``, or None when there is no port."""
    host_end = netloc.rfind("]") + 1 if netloc.startswith("[") else 0
    _, colon, port = netloc[host_end:].rpartition(":")
    return port if colon else None


def _check_base_url(url: str, name: str = "base_url") -> str:
    """``url`` when requests can be sent under it, else ValueError naming ``name``.

    Args:
        url: The base URL, without trailing slashes.
        name: Where it came from, as the message names it: the parameter, or
            the environment variable.
    """
    try:
        parts = urlsplit(url)
        has_userinfo = "@" in parts.netloc
    except ValueError:
        parts, has_userinfo = None, "@" in url
    if has_userinfo:
        # Checked first: every later message quotes the URL, and this one must not.
        # A user or password would go out as Basic auth beside the bearer key.
        raise ValueError(
            f"{name} must not contain a user name or password (user:password@host); "
            "pass the key as api_key"
        )
    if _URL_UNSAFE.search(url):
        raise ValueError(
            f"{name} must not contain spaces or control characters (CR, LF, TAB, NUL), got {url!r}"
        )
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{name} must be an http(s) URL such as {DEFAULT_BASE_URL}, got {url!r}")
    if "?" in url or "#" in url:
        # Even an empty one ("...?"): the path would be joined after it, and every
        # request would go to "/". Not quoted: a query may hold a token.
        raise ValueError(f"{name} must not carry a query or fragment ('?' or '#')")
    port = _port_text(parts.netloc)
    if port is not None and port and (not _PORT.fullmatch(port) or not 0 < int(port) < 65536):
        raise ValueError(f"{name} must have a port from 1 to 65535, got {url!r}")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        # spec: security - no bearer token over plain http except to loopback
        raise ValueError(
            f"{name} {url!r} is plain http to a host other than this machine; "
            "the API key would travel in clear text: use https://"
        )
    return url


# Header-safe key text: no control characters (C0, DEL, C1), nothing beyond Latin-1,
# which is all an HTTP header value can carry; a newline would split the header.
_KEY_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f]|[^\x00-\xff]")


def _check_api_key(key: object, name: str) -> str:
    if not isinstance(key, str) or not key.strip():
        raise ValueError(f"{name} must be a non-empty string")
    if _KEY_UNSAFE.search(key):
        # The value is a credential: say what is wrong, never what it is.
        raise ValueError(
            f"{name} must be printable Latin-1 text without control characters "
            "(a header value); the key is not shown"
        )
    return key


def make_config(
    *,
    api_key: str | None,
    base_url: str | None,
    session_cookie: str | None,
    timeout: float,
    max_retries: int,
    retry_after_cap: float,
    trust_env: bool,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Resolve and validate the client's settings.

    Args:
        api_key: The key, else ``LLAMA_CLOUD_API_KEY``, else ``LLAMA_PARSE_API_KEY``
            (as the official SDK reads it; an empty variable counts as unset).
        base_url: The API's base URL, else ``LLAMA_CLOUD_BASE_URL``, else the
            public LlamaCloud URL.
        session_cookie: Sent as the ``session`` cookie, if given: one RFC 6265
            cookie value.
        timeout: Seconds one attempt may take: finite and > 0.
        max_retries: Retries after the first attempt of each page request.
        retry_after_cap: The longest ``Retry-After`` (seconds) that is slept through.
        trust_env: Read proxy variables and ``.netrc``.
        environ: The environment to read (default: ``os.environ``).

    Raises:
        ValueError: A setting is invalid, no credentials were found, or the key
            would travel in clear text to a host other than this machine.
    """
    env = os.environ if environ is None else environ
    key: str | None = api_key
    key_name = "api_key"
    if key is None:
        key_name = API_KEY_ENV if env.get(API_KEY_ENV) else API_KEY_FALLBACK_ENV
        key = env.get(API_KEY_ENV) or env.get(API_KEY_FALLBACK_ENV) or None
    if key is not None:
        key = _check_api_key(key, key_name)
    session_cookie = _check_session_cookie(session_cookie)
    if key is None and session_cookie is None:
        raise ValueError(
            f"no API key: pass api_key=... or set {API_KEY_ENV} "
            "(or pass session_cookie=... to authenticate with a session)"
        )
    url_name = "base_url" if base_url is not None else f"base_url (from {BASE_URL_ENV})"
    url = (base_url if base_url is not None else env.get(BASE_URL_ENV)) or DEFAULT_BASE_URL
    if not isinstance(url, str):
        raise ValueError(f"base_url must be a string, got {type(url).__name__}")
    url = _check_base_url(url.rstrip("/"), url_name)
    return Config(
        api_key=key,
        base_url=url,
        session_cookie=session_cookie,
        timeout=check_seconds("timeout", timeout),
        max_retries=check_count("max_retries", max_retries, minimum=0),
        retry_after_cap=check_seconds(
            "retry_after_cap", retry_after_cap, allow_zero=True, finite=False
        ),
        trust_env=check_flag("trust_env", trust_env),
    )
