"""``llama-batch`` flags: bad values are usage errors (exit 2) naming the flag as typed."""

from __future__ import annotations

import pytest
from cli_helpers import (
    KEY,
    run_cli,
    run_installed,
)

from llama_batch_async import JobStatus
from llama_batch_async.cli import main


def test_bad_status_is_a_usage_error_naming_the_valid_values() -> None:
    """--status complete exits 2 and names every valid status."""
    result = run_cli("list", "--status", "complete", "--api-key", KEY)
    assert result.returncode == 2
    assert result.stdout == ""
    for status in JobStatus:
        assert status.value in result.stderr


def test_missing_key_exits_2_and_points_at_the_env_and_demo() -> None:
    """Without a key: one line naming both key variables, --api-key and --demo; exit 2."""
    result = run_cli("list")
    assert result.returncode == 2
    assert result.stderr == (
        "error: no API key: set LLAMA_CLOUD_API_KEY (or LLAMA_PARSE_API_KEY) or pass --api-key"
        " (or try --demo)\n"
    )


def test_library_value_errors_exit_2_with_flag_names() -> None:
    """A value the library refuses (page size 0, clear-text URL) is one line, exit 2."""
    result = run_cli("list", "--demo", "--page-size", "0")
    assert (result.returncode, result.stderr) == (2, "error: --page-size must be >= 1, got 0\n")
    result = run_cli("list", "--api-key", KEY, "--base-url", "http://example.com")
    assert result.returncode == 2
    assert "plain http" in result.stderr
    assert KEY not in result.stderr


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (("list", "--timeout", "inf"), "--timeout"),
        (("list", "--request-timeout", "nan"), "--request-timeout"),
        (("list", "--timeout=-inf"), "--timeout"),
        (("list", "--timeout", "0"), "--timeout"),
        (("watch", "--request-timeout", "Infinity"), "--request-timeout"),
        (("wait", "bjb-1", "--request-timeout", "inf"), "--request-timeout"),
    ],
)
def test_non_finite_attempt_timeout_is_a_usage_error_naming_the_flag(
    args: tuple[str, ...], flag: str
) -> None:
    """An infinite or NaN per-attempt timeout exits 2 naming the flag as typed, no traceback."""
    result = run_cli(*args, "--demo")
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"error: argument {flag}: must be a finite number of seconds > 0" in result.stderr


def test_wait_timeout_inf_still_means_no_limit() -> None:
    """The whole wait's ``wait --timeout inf`` is accepted: it waits as long as it takes."""
    result = run_cli("wait", "--demo", "--timeout", "inf", "--poll-interval", "0.2")
    assert result.returncode in {0, 1}  # 1: a demo job failed, as demo jobs may
    assert "--timeout" not in result.stderr


def test_password_in_base_url_is_refused_unechoed() -> None:
    """--base-url with user:password@ exits 2 naming --base-url; the password is never shown."""
    result = run_cli("list", "--api-key", KEY, "--base-url", "https://u:hunter2-PW@api.example")
    assert result.returncode == 2
    assert result.stderr.startswith("error: --base-url must not contain a user name or password")
    assert "hunter2-PW" not in result.stderr


def test_main_reports_usage_errors_as_exit_codes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """main() returns exit codes instead of raising: 2 for a missing key, 0 for --help."""
    monkeypatch.delenv("LLAMA_CLOUD_API_KEY", raising=False)
    assert main(["list"]) == 2
    assert "LLAMA_CLOUD_API_KEY" in capsys.readouterr().err
    assert main(["serve-fake", "--help"]) == 0
    assert "--page-tokens" in capsys.readouterr().out
    assert main(["list", "--job-type", "nope"]) == 2


@pytest.mark.parametrize(
    "args",
    [
        ("wait", "--api-key", KEY),
        ("wait", "bjb-1", "--api-key", KEY, "--poll-interval", "0"),
        ("wait", "bjb-1", "--api-key", KEY, "--timeout", "-1"),
        ("watch", "--demo", "--max-events", "0"),
        ("watch", "--demo", "--duration", "nan"),
        ("watch", "--demo", "--api-key", KEY),
    ],
)
def test_wait_and_watch_usage_errors_exit_2(
    args: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    """No ids, a zero interval, a negative timeout or a bad stop: exit 2, the key never shown."""
    assert main(list(args)) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "error: " in err
    assert KEY not in err


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (("list", "--prefetch", "33"), "--prefetch"),
        (("list", "--prefetch", "many"), "--prefetch"),
        (("list", "--offset", "-1"), "--offset"),
        (("list", "--max-items", "-5"), "--max-items"),
        (("list", "--page-size", "0"), "--page-size"),
        (("list", "--page-size", "ten"), "--page-size"),
        (("list", "--max-retries", "-1"), "--max-retries"),
        (("list", "--timeout", "0"), "--timeout"),
        (("list", "--request-timeout", "-2"), "--request-timeout"),
        (("list", "--status", "done"), "--status"),
        (("list", "--job-type", "index"), "--job-type"),
        (("list", "--project-id", " "), "--project-id"),
        (("list", "--directory-id", ""), "--directory-id"),
        (("list", "--organization-id", "\t"), "--organization-id"),
        (("list", "--api-key", " "), "--api-key"),
        (("list", "--base-url", "ftp://example.com"), "--base-url"),
        (("list", "--offset", "3", "--resume-from", "abc"), "--resume-from"),
        (("list", "--resume-from", "not-a-cursor"), "--resume-from"),
        (("wait", "bjb-1", "--timeout", "-1"), "--timeout"),
        (("wait", "bjb-1", "--poll-interval", "0"), "--poll-interval"),
        (("wait", "bjb-1", "--request-timeout", "nan"), "--request-timeout"),
        (("watch", "--max-events", "0"), "--max-events"),
        (("watch", "--duration", "-1"), "--duration"),
        (("watch", "--page-size", "0"), "--page-size"),
        (("serve-fake", "--port", "70000"), "--port"),
        (("serve-fake", "--latency", "-1"), "--latency"),
    ],
)
def test_every_bad_flag_value_is_named_as_typed(
    args: tuple[str, ...], flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A refused value exits 2 with an error naming the flag as typed, never a parameter name."""
    demo = () if args[0] == "serve-fake" or "--api-key" in args else ("--demo",)
    assert main([*args, *demo]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    message = err.splitlines()[-1]
    assert "error: " in message
    assert flag in message
    parameter = flag.removeprefix("--").replace("-", "_")
    assert f" {parameter} " not in f" {message} ".replace(",", " ")


@pytest.mark.parametrize(
    ("args", "prog", "said"),
    [
        (("list", "--statuss", "failed"), "llama-batch list", "(did you mean --status?)"),
        (
            ("batches", "list", "--formt", "json"),
            "llama-batch batches list",
            "(did you mean --format?)",
        ),
        (
            ("wait", "--pol-interval", "1", "x"),
            "llama-batch wait",
            "(did you mean --poll-interval?)",
        ),
    ],
)
def test_a_misspelt_flag_gets_the_commands_usage_and_a_guess(
    args: tuple[str, ...], prog: str, said: str
) -> None:
    """A misspelt flag: the command's own one-line usage, the error, and "did you mean"."""
    result = run_installed(*args)
    assert result.returncode == 2
    usage, message = result.stderr.splitlines()
    assert usage == f"usage: {prog} [options] (--help lists them)"
    assert message.startswith(f"{prog}: error: unrecognized arguments: ")
    assert message.endswith(said)


def test_help_names_status_values_without_hard_wrapping_a_choice_list() -> None:
    """`list --help` shows `--status STATUS` and lists the values in the help text."""
    result = run_installed("list", "--help")
    assert result.returncode == 0
    assert "[--status STATUS]" in result.stdout
    assert "{pending," not in result.stdout
    help_text = " ".join(result.stdout.split())
    assert "only jobs in this status: pending, running, dispatched, completed, failed," in help_text
    assert "[--format FORMAT]" in result.stdout


def test_a_bad_choice_is_two_lines_naming_the_values() -> None:
    """`list --status nope`: a one-line usage and one error line with the valid values."""
    result = run_installed("list", "--status", "nope")
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 2
    assert "invalid choice: 'nope' (choose from 'pending', 'running'," in result.stderr
