"""The ValueError builders: one wording, ``<name> must be <rule>, got <value>``, for every check."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from llama_batch_async import BatchClient
from llama_batch_async._validate import (
    check_choice,
    check_count,
    check_flag,
    check_id,
    check_ids,
    check_query_id,
    check_seconds,
)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: check_count("page_size", 1.5, minimum=1),
            "page_size must be an int >= 1, got 1.5",
        ),
        (lambda: check_count("page_size", 0, minimum=1), "page_size must be >= 1, got 0"),
        (
            lambda: check_count("prefetch", 40, minimum=0, maximum=32),
            "prefetch must be an int from 0 to 32, got 40",
        ),
        (
            lambda: check_seconds("timeout", math.inf),
            "timeout must be a finite number of seconds > 0, got inf",
        ),
        (
            lambda: check_seconds("cap", -1, allow_zero=True, finite=False),
            "cap must be a number of seconds >= 0, got -1",
        ),
        (
            lambda: check_seconds("timeout", True, allow_zero=True, optional=True),
            "timeout must be None or a finite number of seconds >= 0, got True",
        ),
        (lambda: check_choice("kind", "c", ("a", "b")), "kind must be one of a, b, got 'c'"),
        (lambda: check_flag("trust_env", 1), "trust_env must be True or False, got 1"),
        (
            lambda: check_query_id("project_id", " "),
            "project_id must be a non-empty id string, got ' '",
        ),
        (
            lambda: check_id("batch_id", ".."),
            "batch_id must be a non-empty id string of one path segment (not '.' or '..', "
            "without '/', '?', '#', '%', whitespace or control characters), got '..'",
        ),
        (
            lambda: check_ids("job_ids", "bjb-1"),
            "job_ids must be a list (or other iterable) of job id strings, got 'bjb-1'",
        ),
        (lambda: check_ids("job_ids", []), "job_ids must be at least one job id, got []"),
    ],
)
def test_every_check_says_name_rule_and_value(call: Callable[[], object], message: str) -> None:
    """Each builder's message is exactly ``<name> must be <rule>, got <value>``."""
    with pytest.raises(ValueError, match=" must be ") as info:
        call()
    assert str(info.value) == message


def test_checks_return_the_normalised_value() -> None:
    """Valid values come back: seconds as float, ids deduplicated in order."""
    assert check_seconds("t", 5) == 5.0
    assert type(check_seconds("t", 0, allow_zero=True)) is float
    assert check_count("n", 3, minimum=0, maximum=3) == 3
    assert check_ids("job_ids", ["b", "a", "b"]) == ("b", "a")
    assert check_choice("k", "a", iter(["a"])) == "a"


def test_client_and_query_share_the_wording() -> None:
    """BatchClient and list_jobs raise the same form for counts."""
    with pytest.raises(ValueError, match=r"^connection_limit must be >= 1, got 0$"):
        BatchClient("k", connection_limit=0)
    client = BatchClient("k")
    with pytest.raises(ValueError, match=r"^page_size must be an int from 1 to 1000, got '10'$"):
        client.list_jobs(page_size="10")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^prefetch must be an int from 0 to 32, got -1$"):
        client.list_jobs(prefetch=-1)
