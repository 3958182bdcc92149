"""Client configuration: argument, else environment, else default; and its checks."""

from __future__ import annotations

import asyncio
import inspect
import math
from collections.abc import Callable

import pytest
from helpers import API_KEY, config

from llama_batch_async import BatchClient
from llama_batch_async._config import DEFAULT_BASE_URL, is_loopback
from llama_batch_async.testing import FakeLlamaCloud

ENV_KEY = "llx-ENVKEY-9876543210"
COOKIE = "sess-CONFIGCOOKIE-77"


# --- credentials --------------------------------------------------------------------------


def test_key_argument_beats_environment() -> None:
    """An explicit api_key wins over LLAMA_CLOUD_API_KEY."""
    built = config(api_key=API_KEY, environ={"LLAMA_CLOUD_API_KEY": ENV_KEY})

    assert built.api_key == API_KEY


def test_key_from_environment() -> None:
    """Without an argument the key comes from LLAMA_CLOUD_API_KEY."""
    built = config(api_key=None, environ={"LLAMA_CLOUD_API_KEY": ENV_KEY})

    assert built.api_key == ENV_KEY


def test_explicit_environ_replaces_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """An explicit ``environ`` is the only environment read."""
    monkeypatch.setenv("LLAMA_CLOUD_API_KEY", ENV_KEY)
    monkeypatch.setenv("LLAMA_CLOUD_BASE_URL", "https://from-os.example")

    built = config(api_key=API_KEY, environ={})

    assert built.base_url == DEFAULT_BASE_URL


def test_os_environ_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ``environ`` the process environment is read."""
    monkeypatch.setenv("LLAMA_CLOUD_API_KEY", ENV_KEY)
    monkeypatch.setenv("LLAMA_CLOUD_BASE_URL", "https://from-os.example/")

    built = config(api_key=None, environ=None)

    assert built.api_key == ENV_KEY
    assert built.base_url == "https://from-os.example"


@pytest.mark.parametrize(
    "environ",
    [
        pytest.param({}, id="unset"),
        pytest.param({"LLAMA_CLOUD_API_KEY": ""}, id="empty"),
        pytest.param({"LLAMA_CLOUD_BASE_URL": "https://x.example"}, id="only-url"),
    ],
)
def test_no_credentials_names_the_variable(environ: dict[str, str]) -> None:
    """No key and no session cookie is a ValueError naming LLAMA_CLOUD_API_KEY."""
    with pytest.raises(ValueError, match="LLAMA_CLOUD_API_KEY"):
        config(api_key=None, environ=environ)


def test_session_cookie_alone_is_enough() -> None:
    """A session cookie authenticates without any key."""
    built = config(api_key=None, session_cookie=COOKIE)

    assert built.api_key is None
    assert built.session_cookie == COOKIE


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        pytest.param({"api_key": ""}, "api_key", id="key-empty"),
        pytest.param({"api_key": "   "}, "api_key", id="key-blank"),
        pytest.param({"api_key": 12345}, "api_key", id="key-int"),
        pytest.param({"session_cookie": ""}, "session_cookie", id="cookie-empty"),
        pytest.param({"session_cookie": 5}, "session_cookie", id="cookie-int"),
    ],
)
def test_bad_credentials(changes: dict[str, object], match: str) -> None:
    """An empty or non-string credential is a ValueError naming it."""
    with pytest.raises(ValueError, match=match):
        config(**changes)


@pytest.mark.parametrize(
    "cookie",
    [
        pytest.param("abc; admin=1", id="second-cookie"),
        pytest.param("abc;admin=1", id="semicolon"),
        pytest.param("abc, admin=1", id="comma"),
        pytest.param("abc def", id="space"),
        pytest.param(" abc", id="leading-space"),
        pytest.param("abc\tdef", id="tab"),
        pytest.param("abc\r\nX-Admin: 1", id="crlf"),
        pytest.param("abc\x00", id="nul"),
        pytest.param("abc\x7f", id="del"),
        pytest.param('ab"c', id="inner-quote"),
        pytest.param('"abc', id="unbalanced-quote"),
        pytest.param('""', id="empty-quoted"),
        pytest.param("abc\\def", id="backslash"),
        pytest.param("séance", id="non-ascii"),
    ],
)
def test_session_cookie_must_be_one_cookie_value(cookie: str) -> None:
    """A session cookie that is not one RFC 6265 cookie value is refused, unechoed."""
    with pytest.raises(ValueError, match="session_cookie") as info:
        config(session_cookie=cookie)

    assert cookie not in str(info.value)


@pytest.mark.parametrize(
    "cookie",
    [
        pytest.param(COOKIE, id="plain"),
        pytest.param("eyJhbGciOiJIUzI1NiJ9.e30.ZRrHA1JJJW8opsbCGfG_HACGpVUMN_a9=", id="jwt"),
        pytest.param("a/b+c=d%20e!#$&'()*-.:<>?@[]^_`{|}~", id="every-punctuation-allowed"),
        pytest.param('"quoted-value"', id="quoted"),
    ],
)
def test_session_cookie_value_forms_are_kept(cookie: str) -> None:
    """Any RFC 6265 cookie value, quoted or not, is kept exactly."""
    assert config(session_cookie=cookie).session_cookie == cookie


# --- base URL -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base_url", "environ", "expected"),
    [
        pytest.param(None, {}, DEFAULT_BASE_URL, id="default"),
        pytest.param(None, {"LLAMA_CLOUD_BASE_URL": ""}, DEFAULT_BASE_URL, id="env-empty"),
        pytest.param(
            None, {"LLAMA_CLOUD_BASE_URL": "https://eu.example"}, "https://eu.example", id="env"
        ),
        pytest.param(
            "https://arg.example",
            {"LLAMA_CLOUD_BASE_URL": "https://eu.example"},
            "https://arg.example",
            id="argument-beats-env",
        ),
        pytest.param("https://arg.example/", {}, "https://arg.example", id="slash-stripped"),
        pytest.param(
            "https://arg.example/prefix//", {}, "https://arg.example/prefix", id="slashes-stripped"
        ),
        pytest.param(
            None, {"LLAMA_CLOUD_BASE_URL": "https://eu.example/"}, "https://eu.example", id="env/"
        ),
    ],
)
def test_base_url_resolution(base_url: str | None, environ: dict[str, str], expected: str) -> None:
    """base_url: argument, else LLAMA_CLOUD_BASE_URL, else the default; trailing slash gone."""
    built = config(base_url=base_url, environ=environ)

    assert built.base_url == expected
    assert built.endpoint == expected + "/api/v1/beta/batch-processing"


def test_default_base_url() -> None:
    """The default base URL is the public LlamaCloud API."""
    assert DEFAULT_BASE_URL == "https://api.cloud.llamaindex.ai"


@pytest.mark.parametrize(
    "base_url",
    [
        pytest.param("http://api.cloud.llamaindex.ai", id="public-host"),
        pytest.param("http://10.0.0.5:8080", id="private-ip"),
        pytest.param("http://0.0.0.0:8080", id="any-address"),
        pytest.param("http://localhost.evil.example", id="localhost-prefix"),
        pytest.param("http://api.localhost", id="dot-localhost-may-reach-dns"),
        pytest.param("http://127.0.0.1.nip.io", id="loopback-lookalike"),
        pytest.param("http://[::2]:9", id="not-loopback-v6"),
    ],
)
def test_plain_http_to_other_hosts_is_refused(base_url: str) -> None:
    """The key never travels over plain http to a host other than this machine."""
    with pytest.raises(ValueError, match="plain http"):
        config(base_url=base_url)


def test_plain_http_from_environment_is_refused() -> None:
    """The http rule applies to a base URL from the environment too."""
    with pytest.raises(ValueError, match="plain http"):
        config(environ={"LLAMA_CLOUD_BASE_URL": "http://api.example"})


@pytest.mark.parametrize(
    "base_url",
    [
        pytest.param("http://127.0.0.1:8080", id="ipv4-loopback"),
        pytest.param("http://127.5.6.7", id="ipv4-loopback-range"),
        pytest.param("http://localhost", id="localhost"),
        pytest.param("http://LOCALHOST:1234/", id="localhost-upper"),
        pytest.param("http://[::1]:9", id="ipv6-loopback"),
    ],
)
def test_plain_http_to_loopback_is_accepted(base_url: str) -> None:
    """Plain http is fine to this machine (the fake server, a local proxy)."""
    assert config(base_url=base_url).base_url == base_url.rstrip("/")


@pytest.mark.parametrize(
    "base_url",
    [
        pytest.param("ftp://api.example", id="ftp"),
        pytest.param("api.cloud.llamaindex.ai", id="no-scheme"),
        pytest.param("https://", id="no-host"),
        pytest.param("https://api.example?x=1", id="query"),
        pytest.param("https://api.example#frag", id="fragment"),
    ],
)
def test_malformed_base_url_is_refused(base_url: str) -> None:
    """A base URL that is not a plain http(s) URL is a ValueError naming base_url."""
    with pytest.raises(ValueError, match="base_url"):
        config(base_url=base_url)


@pytest.mark.parametrize(
    "base_url",
    [
        pytest.param("https://user:hunter2-PASSWORD@api.example", id="user-password"),
        pytest.param("https://:hunter2-PASSWORD@api.example", id="password-only"),
        pytest.param("https://hunter2-PASSWORD@api.example", id="user-only"),
        pytest.param("http://u:hunter2-PASSWORD@127.0.0.1:8080", id="loopback"),
        pytest.param("ftp://u:hunter2-PASSWORD@api.example", id="other-scheme"),
        pytest.param("https://u:hunter2-PASSWORD@api.example?q=1", id="with-query"),
    ],
)
def test_userinfo_in_base_url_is_refused_unechoed(base_url: str) -> None:
    """A user or password in base_url is a ValueError naming base_url, never showing it."""
    with pytest.raises(ValueError, match="base_url must not contain a user name") as info:
        config(base_url=base_url)

    assert "hunter2-PASSWORD" not in str(info.value)


def test_userinfo_in_base_url_from_environment_is_refused() -> None:
    """The same rule holds for LLAMA_CLOUD_BASE_URL."""
    environ = {"LLAMA_CLOUD_BASE_URL": "https://u:hunter2-PASSWORD@api.example"}
    with pytest.raises(ValueError, match="base_url") as info:
        config(environ=environ)

    assert "hunter2-PASSWORD" not in str(info.value)


def test_at_sign_in_the_path_is_not_userinfo() -> None:
    """An ``@`` after the host (in the path) is part of the path, not a user name."""
    assert config(base_url="https://api.example/@team").base_url == "https://api.example/@team"


# --- numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        pytest.param({"timeout": 0}, "timeout", id="timeout-zero"),
        pytest.param({"timeout": -1.0}, "timeout", id="timeout-negative"),
        pytest.param({"timeout": float("nan")}, "timeout", id="timeout-nan"),
        pytest.param({"timeout": float("inf")}, "timeout must be a finite", id="timeout-inf"),
        pytest.param({"timeout": -float("inf")}, "timeout must be a finite", id="timeout--inf"),
        pytest.param({"timeout": "60"}, "timeout", id="timeout-str"),
        pytest.param({"timeout": True}, "timeout", id="timeout-bool"),
        pytest.param({"timeout": None}, "timeout", id="timeout-none"),
        pytest.param({"max_retries": -1}, "max_retries", id="retries-negative"),
        pytest.param({"max_retries": 1.0}, "max_retries", id="retries-float"),
        pytest.param({"max_retries": True}, "max_retries", id="retries-bool"),
        pytest.param({"max_retries": "3"}, "max_retries", id="retries-str"),
        pytest.param({"retry_after_cap": -0.5}, "retry_after_cap", id="cap-negative"),
        pytest.param({"retry_after_cap": float("nan")}, "retry_after_cap", id="cap-nan"),
        pytest.param({"retry_after_cap": "60"}, "retry_after_cap", id="cap-str"),
        pytest.param({"retry_after_cap": False}, "retry_after_cap", id="cap-bool"),
        pytest.param({"trust_env": "yes"}, "trust_env", id="trust_env-str"),
        pytest.param({"trust_env": 1}, "trust_env", id="trust_env-int"),
    ],
)
def test_bad_settings_are_value_errors(changes: dict[str, object], match: str) -> None:
    """An out-of-range or mistyped setting is a ValueError naming it."""
    with pytest.raises(ValueError, match=match):
        config(**changes)


def test_good_settings_are_kept() -> None:
    """Valid settings are kept, numbers as floats where they are seconds."""
    built = config(timeout=5, max_retries=0, retry_after_cap=0, trust_env=True)

    assert built.timeout == 5.0
    assert type(built.timeout) is float
    assert built.max_retries == 0
    assert built.retry_after_cap == 0.0
    assert type(built.retry_after_cap) is float
    assert built.trust_env is True


# --- secrecy ------------------------------------------------------------------------------


def test_repr_hides_key_and_cookie() -> None:
    """The repr and str of a config never show the key or the session cookie."""
    built = config(session_cookie=COOKIE)

    for text in (repr(built), str(built)):
        assert API_KEY not in text
        assert COOKIE not in text
        assert "https://api.cloud.llamaindex.ai" in text


def test_repr_hides_key_from_environment() -> None:
    """A key read from the environment is hidden just the same."""
    built = config(api_key=None, environ={"LLAMA_CLOUD_API_KEY": ENV_KEY})

    assert ENV_KEY not in repr(built)


def test_errors_never_show_the_key() -> None:
    """A configuration error does not repeat the key it was given."""
    with pytest.raises(ValueError, match="plain http") as info:
        config(base_url="http://api.example")

    assert API_KEY not in str(info.value)


# --- is_loopback --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        pytest.param("localhost", True, id="localhost"),
        pytest.param("LocalHost", True, id="localhost-case"),
        pytest.param("api.localhost", False, id="sub.localhost-may-reach-dns"),
        pytest.param("127.0.0.1", True, id="127.0.0.1"),
        pytest.param("127.255.255.254", True, id="127/8"),
        pytest.param("::1", True, id="::1"),
        pytest.param("0:0:0:0:0:0:0:1", True, id="::1-long"),
        pytest.param("[::1]", False, id="bracketed"),
        pytest.param("0.0.0.0", False, id="any"),  # noqa: S104 - a host name, not a bind
        pytest.param("10.0.0.1", False, id="private"),
        pytest.param("128.0.0.1", False, id="128"),
        pytest.param("::", False, id="::"),
        pytest.param("example.com", False, id="name"),
        pytest.param("localhost.example.com", False, id="localhost-prefix"),
        pytest.param("notlocalhost", False, id="localhost-suffix"),
        pytest.param("", False, id="empty"),
        pytest.param(None, False, id="None"),
    ],
)
def test_is_loopback(host: str | None, expected: bool) -> None:
    """Only localhost names and loopback addresses count as this machine."""
    assert is_loopback(host) is expected


# --- timeouts through the client ----------------------------------------------------------


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_client_refuses_a_non_finite_attempt_timeout(value: float) -> None:
    """BatchClient(timeout=inf or nan) is a ValueError naming timeout, before any request."""
    with pytest.raises(ValueError, match=r"^timeout must be"):
        BatchClient(API_KEY, timeout=value)


async def test_wait_for_jobs_timeout_inf_means_no_limit() -> None:
    """wait_for_jobs(timeout=math.inf) is the documented "no limit" and returns the jobs."""
    ids = ["bjb-1", "bjb-2", "bjb-3"]
    jobs = [{"id": job_id, "status": "completed"} for job_id in ids]
    async with (
        FakeLlamaCloud(jobs=jobs, api_key=API_KEY) as cloud,
        BatchClient(API_KEY, base_url=cloud.url, timeout=5) as client,
    ):
        final = await asyncio.wait_for(
            client.wait_for_jobs(ids, poll_interval=0.05, timeout=math.inf), 30
        )
    assert list(final) == ids


def test_public_settings_are_the_defaults_the_signatures_use() -> None:
    """`llama_batch_async.settings` names the very defaults the public signatures carry."""
    from llama_batch_async import settings  # noqa: PLC0415 - the public door
    from llama_batch_async.redis import RedisLimiter  # noqa: PLC0415 - the [redis] extra

    def defaults(function: Callable[..., object]) -> dict[str, object]:
        parameters = inspect.signature(function).parameters
        return {name: parameter.default for name, parameter in parameters.items()}

    client = defaults(BatchClient)
    assert client["timeout"] == settings.DEFAULT_TIMEOUT
    assert client["max_retries"] == settings.DEFAULT_MAX_RETRIES
    assert client["retry_after_cap"] == settings.DEFAULT_RETRY_AFTER_CAP
    walk = defaults(BatchClient.list_jobs)
    assert (walk["page_size"], walk["prefetch"]) == (
        settings.DEFAULT_PAGE_SIZE,
        settings.DEFAULT_PREFETCH,
    )
    assert defaults(BatchClient.wait_for_jobs)["poll_interval"] == settings.DEFAULT_POLL_INTERVAL
    limiter = defaults(RedisLimiter)
    assert (limiter["slack"], limiter["timeout"], limiter["retry_interval"]) == (
        settings.DEFAULT_RATE_SLACK,
        settings.DEFAULT_REDIS_TIMEOUT,
        settings.DEFAULT_REDIS_RETRY_INTERVAL,
    )


def test_the_rate_policy_defaults_are_public_and_used() -> None:
    """Settings names the rate policy's and the speculation's defaults the code runs on."""
    from llama_batch_async import settings  # noqa: PLC0415 - the public door
    from llama_batch_async._http._limiter import Congestion  # noqa: PLC0415
    from llama_batch_async._http._retry import RetryPolicy  # noqa: PLC0415

    policy = RetryPolicy()
    assert policy.backoff_base == settings.DEFAULT_BACKOFF_BASE == 0.5
    assert policy.backoff_max == settings.DEFAULT_BACKOFF_MAX == 30.0
    assert Congestion().window == settings.SLOW_START_WINDOW == 2.0
    assert settings.SLOW_START_GROWTH == 0.5
    assert settings.OPEN_WINDOW == 64.0
    assert settings.CONGESTION_BETA == 0.7
    assert settings.CONGESTION_RECOVERY == 8.0
    assert settings.RATE_WINDOW == 1.0
    assert settings.MIN_RATE == 0.2
    assert (settings.GUESS_FLOOR, settings.GUESS_SHARE) == (1, 0.12)
    assert settings.LISTING_MEMORY == 256
