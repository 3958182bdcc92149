"""The environment variables the client reads and its defaults, as public names.

Declared once in the package and shown here for code that needs them: the CLI
(its flags' defaults and help), a deployment's own settings, a test. Changing a
value here changes nothing; pass the setting to `BatchClient` instead.

    >>> from llama_batch_async import settings
    >>> settings.API_KEY_ENV, settings.DEFAULT_TIMEOUT
    ('LLAMA_CLOUD_API_KEY', 60.0)
"""

from __future__ import annotations

from ._config import (
    API_KEY_ENV,
    API_KEY_FALLBACK_ENV,
    BASE_URL_ENV,
    CONGESTION_BETA,
    CONGESTION_RECOVERY,
    DECODE_IN_THREAD_BYTES,
    DEFAULT_BACKOFF_BASE,
    DEFAULT_BACKOFF_MAX,
    DEFAULT_BASE_URL,
    DEFAULT_MAX_RETRIES,
    DEFAULT_PAGE_SIZE,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_PREFETCH,
    DEFAULT_RATE_SLACK,
    DEFAULT_REDIS_CONNECT_TIMEOUT,
    DEFAULT_REDIS_RETRY_INTERVAL,
    DEFAULT_REDIS_TIMEOUT,
    DEFAULT_RETRY_AFTER_CAP,
    DEFAULT_TIMEOUT,
    GUESS_FLOOR,
    GUESS_SHARE,
    LISTING_MEMORY,
    MAX_PAGE_SIZE,
    MAX_PREFETCH,
    MAX_WINDOWS,
    MIN_RATE,
    OPEN_WINDOW,
    RATE_WINDOW,
    REDIS_URL_ENV,
    SLOW_START_GROWTH,
    SLOW_START_WINDOW,
)

__all__ = [
    "API_KEY_ENV",
    "API_KEY_FALLBACK_ENV",
    "BASE_URL_ENV",
    "CONGESTION_BETA",
    "CONGESTION_RECOVERY",
    "DECODE_IN_THREAD_BYTES",
    "DEFAULT_BACKOFF_BASE",
    "DEFAULT_BACKOFF_MAX",
    "DEFAULT_BASE_URL",
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
]
