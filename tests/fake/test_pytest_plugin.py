"""The shipped pytest plugin: fixtures users put in their own tests."""

from __future__ import annotations

import pytest

from llama_batch_async import BatchClient, JobStatus
from llama_batch_async.testing import FakeLlamaCloud

pytest_plugins = ["pytester"]


async def failed_job_ids(client: BatchClient) -> list[str]:
    """Stand-in for a user's own code under test."""
    return [job.id for job in await client.list_jobs(status="failed").collect()]


async def test_five_line_user_test(
    fake_llama_cloud: FakeLlamaCloud, llama_client: BatchClient
) -> None:
    """The README's five-line test works as written."""
    fake_llama_cloud.set_jobs([{"id": "a", "status": "failed"}, {"id": "b"}])
    assert await failed_job_ids(llama_client) == ["a"]
    assert fake_llama_cloud.requests[0].query["status"] == "failed"


@pytest.mark.fake_llama_cloud(jobs=120, page_tokens=True, max_limit=25)
async def test_marker_configures_the_fake(
    fake_llama_cloud: FakeLlamaCloud, llama_client: BatchClient
) -> None:
    """The fake_llama_cloud marker passes its options to FakeLlamaCloud."""
    jobs = await llama_client.list_jobs().collect()
    assert len(jobs) == 120
    assert fake_llama_cloud.page_tokens
    assert fake_llama_cloud.max_limit == 25
    assert fake_llama_cloud.requests[1].query["offset"] == "25"


async def test_scripted_faults_are_retried(
    fake_llama_cloud: FakeLlamaCloud, llama_client: BatchClient
) -> None:
    """A user can script a 429 and see their code ride through it."""
    fake_llama_cloud.fail_next(429, retry_after="0")
    jobs = await llama_client.list_jobs(status=JobStatus.COMPLETED).collect()
    assert jobs
    assert [r.fault is not None for r in fake_llama_cloud.requests][:2] == [True, False]


def test_plugin_is_loaded_by_entry_point(pytester: pytest.Pytester) -> None:
    """An unrelated project's test session finds the fixtures without any conftest."""
    pytester.makepyfile(
        """
        async def test_uses_fixture(fake_llama_cloud, llama_client):
            jobs = await llama_client.list_jobs(max_items=3).collect()
            assert len(jobs) == 3
        """
    )
    # In process: pytest still loads its plugins from the entry points (there is no
    # conftest here), and a subprocess would add only Python's start-up.
    options = ("-o", "asyncio_mode=auto", "-o", "asyncio_default_fixture_loop_scope=function")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", *options)
    result.assert_outcomes(passed=1)


def test_without_pytest_asyncio_the_fixtures_name_the_test_extra(pytester: pytest.Pytester) -> None:
    """Without pytest-asyncio, using a fixture fails with a message naming the [test] extra."""
    pytester.makepyfile(
        pytest_asyncio="raise ImportError('pytest-asyncio is not installed here')",
        test_user="""
        def test_uses_fixture(llama_client):
            pass
        """,
    )
    # The user's own config: under nox the test folder lies inside this checkout, whose
    # pyproject.toml (strict config, asyncio options) would otherwise be found first.
    pytester.makeini("[pytest]\n")
    # A fresh interpreter whose `import pytest_asyncio` fails, with the plugin itself off.
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:asyncio")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*need pytest-asyncio: install the [[]test[]] extra*"])
