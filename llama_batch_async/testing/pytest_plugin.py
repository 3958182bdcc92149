"""A pytest plugin: opt-in fixtures for testing code that lists LlamaCloud batch jobs.

Installed with the package (entry point ``pytest11``) and idle until a test asks
for one of its fixtures:

    async def test_my_endpoint_lists_failed_jobs(fake_llama_cloud, llama_client):
        fake_llama_cloud.set_jobs([{"id": "a", "status": "failed"}, {"id": "b"}])
        failed = await my_app.failed_jobs(llama_client)
        assert [job.id for job in failed] == ["a"]
        assert fake_llama_cloud.requests[0].query["status"] == "failed"

Configure the fake cloud per test with a marker, whose keywords are
`FakeLlamaCloud`'s:

    @pytest.mark.fake_llama_cloud(jobs=500, page_tokens=True, max_limit=50)

The v2 batches endpoints are served too: seed them with ``batches=N`` in the
marker or ``fake_llama_cloud.set_batches([...])``, and list them with
``llama_client.list_batches()``.

The fixtures are async: they need pytest-asyncio (auto mode, or strict mode,
where they are registered as pytest-asyncio fixtures).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pytest

if TYPE_CHECKING:
    from llama_batch_async import BatchClient
    from llama_batch_async.testing import FakeLlamaCloud

__all__ = ["fake_llama_cloud", "llama_client"]

_F = TypeVar("_F", bound=Callable[..., Any])

FAKE_API_KEY = "llama-batch-async-test-key"
"""The API key the fake cloud requires and `llama_client` sends."""


_NEEDS_PYTEST_ASYNCIO = (
    "the fake_llama_cloud and llama_client fixtures are async and need pytest-asyncio: "
    "install the [test] extra (python3 -m pip install '.[test]' in a checkout of "
    "llama-batch-async) or pytest-asyncio itself"
)


def _async_fixture(func: _F) -> _F:
    try:
        import pytest_asyncio  # noqa: PLC0415 - optional; only needed when used
    except ImportError:
        # Without pytest-asyncio, say what to install, not pytest's generic complaint
        # about an async fixture.
        def needs_pytest_asyncio() -> None:
            pytest.fail(_NEEDS_PYTEST_ASYNCIO, pytrace=False)

        return cast("_F", pytest.fixture(name=func.__name__)(needs_pytest_asyncio))
    return cast("_F", pytest_asyncio.fixture(func))


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``fake_llama_cloud`` marker."""
    config.addinivalue_line(
        "markers",
        "fake_llama_cloud(**options): FakeLlamaCloud options for the fake_llama_cloud fixture",
    )


@_async_fixture
async def fake_llama_cloud(request: pytest.FixtureRequest) -> AsyncIterator[FakeLlamaCloud]:
    """A running `FakeLlamaCloud` on 127.0.0.1 with 50 seeded jobs, stopped after the test.

    Options come from the ``fake_llama_cloud`` marker, if the test has one.
    """
    from llama_batch_async.testing import FakeLlamaCloud  # noqa: PLC0415 - lazy: see below

    # Imports stay inside the fixtures so that loading the plugin at pytest start
    # imports nothing of the package (coverage tools start after plugins load).
    options: dict[str, Any] = {"jobs": 50, "api_key": FAKE_API_KEY}
    marker = request.node.get_closest_marker("fake_llama_cloud")
    if marker is not None:
        options.update(marker.kwargs)
    async with FakeLlamaCloud(**options) as cloud:
        yield cloud


@_async_fixture
async def llama_client(fake_llama_cloud: FakeLlamaCloud) -> AsyncIterator[BatchClient]:
    """A `BatchClient` pointed at `fake_llama_cloud`, closed after the test.

    It retries with the library's defaults; script faults on the fake cloud
    with ``Retry-After: 0.01`` to keep tests fast.
    """
    from llama_batch_async import BatchClient  # noqa: PLC0415 - lazy, as above

    api_key = fake_llama_cloud.api_key or FAKE_API_KEY
    async with BatchClient(api_key, base_url=fake_llama_cloud.url) as client:
        yield client
