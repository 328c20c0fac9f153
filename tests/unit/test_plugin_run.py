"""Running plugins: deadlines that reach grandchildren, capped output, exact environment, exit
codes and signals in words, and a bad argv[0] in words. The plugins are in tests/plugins/."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pacs_tui.probes.perfdata import parse_output
from pacs_tui.probes.plugin_run import (
    DRAIN_GRACE,
    KILL_GRACE,
    PluginRun,
    exit_status_words,
    resolve_program,
    run_plugin,
)

PLUGINS = Path(__file__).resolve().parent.parent / "plugins"
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C"}
# What run_plugin promises after a kill: timeout + DRAIN_GRACE + KILL_GRACE (0.45 s).
SLACK = 0.5


def plugin(name: str) -> str:
    return str(PLUGINS / name)


def gone(pid: int) -> bool:
    """No such process, or a zombie (killed, waiting for init to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rpartition(")")[2].split()[0] == "Z"


async def wait_until(condition: Callable[[], bool], within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def pids(path: Path) -> tuple[int, int]:
    plugin_pid, grandchild_pid = path.read_text().split()
    return int(plugin_pid), int(grandchild_pid)


@contextlib.contextmanager
def reaped(pidfile: Path) -> Iterator[None]:
    """After the test, kill by pid the grandchild a test plugin left running (the one that
    escaped the group on purpose, or any a failing run left), if it is still that process."""
    try:
        yield
    finally:
        if pidfile.exists() and len(pidfile.read_text().split()) == 2:
            _, grandchild = pids(pidfile)
            with contextlib.suppress(OSError):
                command = Path(f"/proc/{grandchild}/cmdline").read_bytes()
                if not gone(grandchild) and (b"sleep" in command or b"escape" in command):
                    os.kill(grandchild, signal.SIGKILL)


# --- exit codes and signals ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "words"),
    [
        (0, 0, "OK"),
        (1, 1, "WARNING"),
        (2, 2, "CRITICAL"),
        (3, 3, "UNKNOWN"),
        (4, 3, "exit code 4: not a plugin status (0 to 3)"),
        (255, 3, "exit code 255: not a plugin status (0 to 3)"),
    ],
)
async def test_exit_codes(code: int, status: int, words: str) -> None:
    run = await run_plugin([plugin("exit_code.sh"), str(code)], timeout=5, env=ENV)
    assert (run.exit_code, run.signal, run.error, run.timed_out) == (code, None, None, False)
    assert run.output == f"EXIT - exit code {code}\n"
    assert exit_status_words(run) == (status, words)


async def test_a_missing_helper_is_exit_127() -> None:
    run = await run_plugin([plugin("missing_command.sh")], timeout=5, env=ENV)
    assert run.exit_code == 127
    assert "No such file or directory" in run.stderr
    assert exit_status_words(run) == (3, "exit code 127: command not found")


async def test_a_helper_that_cannot_run_is_exit_126() -> None:
    run = await run_plugin([plugin("missing_command.sh"), "126"], timeout=5, env=ENV)
    assert run.exit_code == 126
    assert "Permission denied" in run.stderr
    assert exit_status_words(run) == (3, "exit code 126: command found but could not be run")


@pytest.mark.parametrize(("number", "name"), [(9, "SIGKILL"), (15, "SIGTERM"), (11, "SIGSEGV")])
async def test_killed_by_a_signal(number: int, name: str) -> None:
    run = await run_plugin([plugin("exit_code.sh"), "signal", str(number)], timeout=5, env=ENV)
    assert (run.exit_code, run.signal, run.timed_out) == (None, number, False)
    assert exit_status_words(run) == (3, f"killed by signal {number} ({name})")


def test_status_words_for_runs_that_never_exited() -> None:
    never = PluginRun(None, None, "", "", False, False, 0.0, "no such file: /x", 5.0)
    assert exit_status_words(never) == (3, "no such file: /x")
    stuck = PluginRun(None, None, "", "", False, False, 5.3, None, 5.0)
    assert exit_status_words(stuck) == (3, "no exit status")
    odd = PluginRun(None, 77, "", "", False, False, 0.1, None, 5.0)
    assert exit_status_words(odd) == (3, "killed by signal 77 (unknown signal)")
    late = PluginRun(None, 9, "", "", False, True, 2.5, None, 2.5)
    assert exit_status_words(late) == (3, "timed out after 2.5 s, process group killed")


# --- deadlines and grandchildren -------------------------------------------------------------


async def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    with reaped(pidfile):
        started = time.monotonic()
        run = await run_plugin([plugin("grandchild.sh"), str(pidfile)], timeout=1.0, env=ENV)
        assert time.monotonic() - started < 1.0 + SLACK
        assert run.timed_out and run.signal == signal.SIGKILL and run.exit_code is None
        assert run.output.startswith("HELPER OK - started helper")
        assert exit_status_words(run) == (3, "timed out after 1 s, process group killed")
        plugin_pid, grandchild_pid = pids(pidfile)
        assert await wait_until(lambda: gone(plugin_pid) and gone(grandchild_pid))


async def test_a_grandchild_holding_stdout_after_the_plugin_exits_is_killed(
    tmp_path: Path,
) -> None:
    pidfile = tmp_path / "pids"
    with reaped(pidfile):
        run = await run_plugin([plugin("grandchild.sh"), str(pidfile), "exit"], timeout=30, env=ENV)
        assert run.elapsed < DRAIN_GRACE + KILL_GRACE + SLACK
        assert (run.exit_code, run.timed_out, run.orphans) == (0, False, True)
        assert exit_status_words(run) == (0, "OK")
        assert run.output.startswith("HELPER OK")
        _, grandchild_pid = pids(pidfile)
        assert await wait_until(lambda: gone(grandchild_pid))


async def test_a_grandchild_in_its_own_session_cannot_hold_the_run(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    with reaped(pidfile):
        run = await run_plugin([plugin("escape_session.py"), str(pidfile)], timeout=30, env=ENV)
        assert run.elapsed < DRAIN_GRACE + KILL_GRACE + SLACK
        assert (run.exit_code, run.orphans) == (0, True)
        assert "left in its own session" in run.output
        # Out of reach of the group kill: still running, and no longer our business.
        _, escaped = pids(pidfile)
        assert not gone(escaped)


async def test_cancelling_the_caller_kills_the_group_and_reraises(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    with reaped(pidfile):
        task = asyncio.create_task(
            run_plugin([plugin("grandchild.sh"), str(pidfile)], timeout=60, env=ENV)
        )
        assert await wait_until(lambda: pidfile.exists() and len(pidfile.read_text().split()) == 2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        plugin_pid, grandchild_pid = pids(pidfile)
        assert await wait_until(lambda: gone(plugin_pid) and gone(grandchild_pid))


def test_bad_timeouts_are_a_programming_error() -> None:
    for timeout in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="timeout"):
            asyncio.run(run_plugin(["/bin/true"], timeout=timeout, env=ENV))


# --- output -------------------------------------------------------------------------------


async def test_endless_output_is_capped_and_the_run_still_ends() -> None:
    run = await run_plugin([plugin("spew.sh")], timeout=1.0, env=ENV, output_limit=10_000)
    assert run.timed_out and run.truncated
    assert len(run.output.encode()) == 10_000
    assert run.output.startswith("endless output\n")
    assert run.elapsed < 1.0 + SLACK


async def test_endless_output_on_both_pipes_is_capped_separately() -> None:
    run = await run_plugin([plugin("spew.sh"), "both"], timeout=1.0, env=ENV, output_limit=4096)
    assert run.timed_out and run.truncated
    assert len(run.output) == len(run.stderr) == 4096
    assert run.output.startswith("on stdout\n") and run.stderr.startswith("on stderr\n")


async def test_a_plugin_writing_megabytes_is_not_blocked_by_the_cap() -> None:
    run = await run_plugin([plugin("spew.sh"), "exit"], timeout=20, env=ENV, output_limit=1000)
    assert (run.exit_code, run.timed_out, run.truncated) == (0, False, True)
    assert run.output == "x" * 1000


async def test_output_within_the_limit_is_not_truncated() -> None:
    run = await run_plugin(["/usr/bin/printf", "12345"], timeout=5, env=ENV, output_limit=5)
    assert (run.output, run.truncated) == ("12345", False)
    run = await run_plugin(["/usr/bin/printf", "123456"], timeout=5, env=ENV, output_limit=5)
    assert (run.output, run.truncated) == ("12345", True)
    run = await run_plugin(["/usr/bin/printf", "1"], timeout=5, env=ENV, output_limit=0)
    assert (run.output, run.truncated) == ("", True)


async def test_a_character_cut_by_the_limit_is_dropped_not_replaced() -> None:
    run = await run_plugin(["/usr/bin/printf", "é" * 10], timeout=5, env=ENV, output_limit=5)
    assert (run.output, run.truncated) == ("éé", True)


async def test_non_utf8_and_control_characters_are_kept_decoded() -> None:
    run = await run_plugin([plugin("non_utf8.sh")], timeout=5, env=ENV)
    assert run.exit_code == 0
    assert run.output.startswith("OK \ufffd\ufffd café \x1b[2J\x1b]52;c;aGk=\x07 nul\x00 end")
    assert run.stderr == "err \ufffd\x1b[31m\n"
    parsed = parse_output(run.output)
    assert parsed.perfdata[0].value == 5.0
    assert parsed.long_text == ("long \ufffd line",)


async def test_stderr_is_kept_apart_from_stdout() -> None:
    run = await run_plugin([plugin("stderr.sh")], timeout=5, env=ENV)
    assert run.output == "CHECK WARNING - see stderr | errors=3c\n"
    assert run.stderr == "debug: on stderr only\n"
    assert exit_status_words(run) == (1, "WARNING")


async def test_odd_perfdata_through_the_parser() -> None:
    run = await run_plugin([plugin("odd_perfdata.sh")], timeout=5, env=ENV)
    parsed = parse_output(run.output)
    assert parsed.summary == "ODD WARNING - odd perfdata"
    assert parsed.long_text == ("a long text line", "another one")
    assert [p.label for p in parsed.perfdata] == [
        "quoted label",
        "it's",
        "x",
        "y",
        "in long",
        "time",
        "pct",
    ]
    assert parsed.problems == ("perfdata item 'bad=abc': value 'abc' is not a number",)


# --- what the plugin is given -----------------------------------------------------------------


async def test_the_environment_is_exactly_the_one_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PACS_TUI_SECRET", "must not leak")
    env = {**ENV, "PLUGIN_ARG": "a=b c é", "EMPTY": ""}
    run = await run_plugin([plugin("print_env.py")], timeout=10, env=env)
    assert run.exit_code == 0, run.stderr
    assert json.loads(run.output.splitlines()[1]) == env


async def test_an_empty_environment() -> None:
    run = await run_plugin(["/usr/bin/env"], timeout=5, env={})
    assert (run.exit_code, run.output) == (0, "")


async def test_stdin_is_dev_null() -> None:
    run = await run_plugin(["/bin/cat"], timeout=5, env=ENV)
    assert (run.exit_code, run.output, run.timed_out) == (0, "", False)


async def test_own_session_and_process_group() -> None:
    run = await run_plugin(["/bin/cat", "/proc/self/stat"], timeout=5, env=ENV)
    fields = run.output.rpartition(")")[2].split()
    pgrp, session = int(fields[2]), int(fields[3])
    pid = int(run.output.split()[0])
    assert pgrp == session == pid != os.getpgrp()


async def test_our_inheritable_descriptors_are_closed() -> None:
    fd = os.open(os.devnull, os.O_RDONLY)
    high = os.dup2(fd, 201, inheritable=True)
    try:
        run = await run_plugin(["/bin/ls", "/proc/self/fd"], timeout=5, env=ENV)
    finally:
        os.close(fd)
        os.close(high)
    assert run.exit_code == 0
    assert "201" not in run.output.split()
    assert {"0", "1", "2"} <= set(run.output.split())


async def test_cwd(tmp_path: Path) -> None:
    run = await run_plugin(["/bin/pwd"], timeout=5, env=ENV, cwd=str(tmp_path))
    assert run.output == f"{tmp_path}\n"
    run = await run_plugin(["/bin/pwd"], timeout=5, env=ENV, cwd=str(tmp_path / "nope"))
    assert run.error == f"no such folder to run in: {tmp_path / 'nope'}"


# --- argv[0] in words -------------------------------------------------------------------------


async def test_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "check_foo"
    run = await run_plugin([str(missing)], timeout=5, env=ENV)
    assert run.error == f"no such file: {missing}"
    assert (run.exit_code, run.signal, run.output) == (None, None, "")
    assert exit_status_words(run) == (3, f"no such file: {missing}")
    inside_a_file = tmp_path / "file" / "check_foo"
    (tmp_path / "file").write_text("")
    assert (await run_plugin([str(inside_a_file)], timeout=5, env=ENV)).error == (
        f"no such file: {inside_a_file}"
    )


async def test_a_file_that_is_not_executable(tmp_path: Path) -> None:
    script = tmp_path / "check_foo"
    script.write_text("#!/bin/sh\necho OK\n")
    script.chmod(0o644)
    run = await run_plugin([str(script)], timeout=5, env=ENV)
    assert run.error == f"not executable: {script}"


async def test_a_directory(tmp_path: Path) -> None:
    run = await run_plugin([str(tmp_path)], timeout=5, env=ENV)
    assert run.error == f"is a directory: {tmp_path}"


async def test_not_a_regular_file() -> None:
    run = await run_plugin(["/dev/null"], timeout=5, env=ENV)
    assert run.error == "not a regular file: /dev/null"


async def test_a_script_without_a_shebang(tmp_path: Path) -> None:
    script = tmp_path / "check_foo"
    script.write_text("echo OK\n")
    script.chmod(0o755)
    run = await run_plugin([str(script)], timeout=5, env=ENV)
    assert run.error == f"not an executable format: {script} (a script without a #! line?)"


async def test_a_script_whose_interpreter_is_missing(tmp_path: Path) -> None:
    script = tmp_path / "check_foo"
    script.write_text("#!/nonexistent/interpreter\necho OK\n")
    script.chmod(0o755)
    run = await run_plugin([str(script)], timeout=5, env=ENV)
    assert run.error == f"cannot start {script}: the interpreter on its #! line is missing"


async def test_empty_argv_and_bad_names() -> None:
    assert (await run_plugin([], timeout=5, env=ENV)).error == "empty command line"
    assert (await run_plugin([""], timeout=5, env=ENV)).error == "empty command name"
    assert (await run_plugin(["/bin/echo", "a\0b"], timeout=5, env=ENV)).error == (
        "cannot start /bin/echo: embedded null byte"
    )
    assert (await run_plugin(["/bin/true"], timeout=5, env={"A=B": "c"})).error == (
        "cannot start /bin/true: illegal environment variable name"
    )


async def test_a_bare_name_is_found_on_the_plugins_path_only(tmp_path: Path) -> None:
    run = await run_plugin(["printf", "hi"], timeout=5, env=ENV)
    assert (run.exit_code, run.output) == (0, "hi")
    assert resolve_program("printf", {"PATH": "/nonexistent:/usr/bin"}) == ("/usr/bin/printf", None)
    assert resolve_program("printf", {}) == (
        None,
        "printf is not an absolute path and the plugin's environment has no PATH",
    )
    assert resolve_program("check_nope", {"PATH": "/usr/bin"}) == (
        None,
        "check_nope not found on PATH /usr/bin",
    )


async def test_relative_path_entries_and_relative_paths_are_refused(tmp_path: Path) -> None:
    script = tmp_path / "check_here"
    script.write_text("#!/bin/sh\necho hijacked\n")
    script.chmod(0o755)
    run = await run_plugin(["check_here"], timeout=5, env={"PATH": ".::sub"}, cwd=str(tmp_path))
    assert run.error == "check_here not found on PATH .::sub"
    run = await run_plugin(["./check_here"], timeout=5, env=ENV, cwd=str(tmp_path))
    assert run.error == (
        "relative path ./check_here: give an absolute path or a name found on PATH"
    )
