"""The command line as a user meets it: exit codes, messages, JSON contracts, clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pynetdicom import AE, VerificationPresentationContexts

from pacs_tui.logs import PrivateRotatingFileHandler, close_logs, setup_logging
from pacs_tui.model import Event, EventKind, Sample, Status, Target, TargetKind
from pacs_tui.store import Store

CLI = [sys.executable, "-m", "pacs_tui"]


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "XDG_CONFIG_HOME": str(cwd / "xdg")}
    full_env.pop("PACS_TUI_CONFIG", None)
    full_env.update(env or {})
    return subprocess.run(
        [*CLI, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def echo_server() -> Iterator[int]:
    ae = AE(ae_title="ARCHIVE")
    ae.supported_contexts = VerificationPresentationContexts
    ae.require_called_aet = True
    server = ae.start_server(("127.0.0.1", 0), block=False)
    assert server is not None  # block=False returns the running server
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(path: Path, nodes: list[tuple[str, str, int]], history: Path) -> Path:
    lines = [
        '[site]\nname = "Test Site"\n',
        f'[history]\npath = "{history}"\n',
        '[dicom]\ncalling_aet = "PACSTUI"\ninterval = "1s"\n',
        'timeout = "500ms"\nwarn_latency = "200ms"\n',
    ]
    for node_id, aet, port in nodes:
        lines.append(
            f'[[dicom.node]]\nid = "{node_id}"\naet = "{aet}"\nhost = "127.0.0.1"\nport = {port}\n'
        )
    path.write_text("\n".join(lines))
    return path


def test_version_and_help(tmp_path: Path) -> None:
    out = run("--version", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.startswith("pacs-tui 0.")
    for command in ["run", "demo", "status", "collect", "history", "config"]:
        out = run(command, "--help", cwd=tmp_path)
        assert out.returncode == 0, command
        assert "--config" in out.stdout and "--log-level" in out.stdout


def test_no_config_says_where_it_looked_and_how_to_start(tmp_path: Path) -> None:
    out = run("run", cwd=tmp_path)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    assert str(tmp_path / "pacs-tui.toml") in out.stderr
    assert "pacs-tui config init" in out.stderr and "pacs-tui demo" in out.stderr


def test_config_check_lists_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[dicom]\ntimeout = "soon"\n[[dicom.node]]\nid = "x"\nport = 0\nhost="h"\n')
    out = run("config", "check", "--config", str(bad), cwd=tmp_path)
    assert out.returncode == 1
    assert "dicom.timeout = 'soon'" in out.stderr
    assert 'dicom.node "x" (#1).aet: missing' in out.stderr
    assert 'dicom.node "x" (#1).port = 0' in out.stderr
    assert "Traceback" not in out.stderr


def test_config_init_then_check(tmp_path: Path) -> None:
    target = tmp_path / "c.toml"
    wrote = run("config", "init", "--path", str(target), cwd=tmp_path)
    assert wrote.returncode == 0
    # The command it says to run next finds the file it wrote.
    assert f"then run: pacs-tui --config {target} config check" in wrote.stdout
    out = run("config", "check", "--config", str(target), cwd=tmp_path)
    assert out.returncode == 0 and "OK" in out.stdout
    again = run("config", "init", "--path", str(target), cwd=tmp_path)
    assert again.returncode == 1 and "already exists" in again.stderr
    # --config and $PACS_TUI_CONFIG say where, as they do for every other command.
    by_option = tmp_path / "by-option.toml"
    assert run("--config", str(by_option), "config", "init", cwd=tmp_path).returncode == 0
    by_env = tmp_path / "by-env.toml"
    made = run("config", "init", cwd=tmp_path, env={"PACS_TUI_CONFIG": str(by_env)})
    assert made.returncode == 0 and "then run: pacs-tui config check" in made.stdout
    assert by_option.is_file() and by_env.is_file()
    assert not (tmp_path / "xdg").exists()  # nothing at the default place


def test_status_json_contract_and_exit_code(tmp_path: Path, echo_server: int) -> None:
    config = write_config(
        tmp_path / "c.toml",
        [("archive", "ARCHIVE", echo_server), ("gone", "GONE", closed_port())],
        tmp_path / "h.sqlite",
    )
    out = run("status", "--json", "--config", str(config), cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    doc = json.loads(out.stdout)
    assert doc["site"] == "Test Site" and doc["checked_at"].endswith("+00:00")
    by_id = {t["id"]: t for t in doc["targets"]}
    assert by_id["archive"]["status"] == "OK"
    assert by_id["archive"]["kind"] == "dicom-node"
    assert by_id["archive"]["metrics"]["echo_seconds"] > 0
    assert by_id["gone"]["status"] == "DOWN"
    assert "connection refused" in by_id["gone"]["reason"]
    assert set(by_id["gone"]) == {"id", "kind", "status", "reason", "since", "metrics"}

    ok_only = write_config(tmp_path / "ok.toml", [("a", "ARCHIVE", echo_server)], tmp_path / "h")
    table = run("status", "--config", str(ok_only), cwd=tmp_path)
    assert table.returncode == 0
    assert "✔ OK" in table.stdout and "ARCHIVE@127.0.0.1" in table.stdout


def echo_rows(history: Path) -> int:
    """Echo samples of the archive in the history so far, read as any other reader would."""
    if not history.exists():
        return 0
    try:
        with sqlite3.connect(f"{history.as_uri()}?mode=ro", uri=True) as db:
            query = (
                "SELECT count(*) FROM samples WHERE target = 'archive' AND metric = 'echo_seconds'"
            )
            return int(db.execute(query).fetchone()[0])
    except sqlite3.Error:  # not created yet
        return 0


@pytest.mark.parametrize("event_loop", ["uvloop", "asyncio"])
def test_collect_stops_cleanly_and_history_reads_back(
    tmp_path: Path, echo_server: int, event_loop: str
) -> None:
    history = tmp_path / "state" / "h.sqlite"
    config = write_config(
        tmp_path / "c.toml",
        [("archive", "ARCHIVE", echo_server), ("gone", "GONE", closed_port())],
        history,
    )
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    proc = subprocess.Popen(
        [*CLI, "collect", "--config", str(config), "--event-loop", event_loop],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Until two echoes of the archive are on disk (a 1 s interval, flushed every second).
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and echo_rows(history) < 2:
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "stopped" in err and "Traceback" not in err
    assert history.stat().st_mode & 0o777 == 0o600

    out = run("history", "--json", "--config", str(config), "--since", "10m", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    echo = [s for s in doc["samples"] if s["target"] == "archive" and s["metric"] == "echo_seconds"]
    assert len(echo) >= 2
    assert echo[0]["ts"].endswith("+00:00")
    changes = {(e["target"], e["status"]) for e in doc["events"] if e["kind"] == "status-change"}
    assert ("archive", "OK") in changes and ("gone", "DOWN") in changes

    csv_out = run("history", "--csv", "--target", "archive", "--config", str(config), cwd=tmp_path)
    lines = csv_out.stdout.splitlines()
    assert lines[0] == "ts,target,metric,value" and len(lines) > 2
    assert all(",archive," in line for line in lines[1:])
    # Every value to the microsecond at most, never in exponent form: a spreadsheet's numbers.
    assert all(re.fullmatch(r"-?\d+(\.\d{1,6})?", line.rsplit(",", 1)[1]) for line in lines[1:])

    bad = run("history", "--since", "yesterday", "--config", str(config), cwd=tmp_path)
    assert bad.returncode != 0 and "not a duration" in bad.stderr
    # A metric the history has no series of is said, with the closest: not every event alone.
    typo = run("history", "--metric", "echo", "--config", str(config), cwd=tmp_path)
    assert typo.returncode == 2 and typo.stdout == ""  # a mistyped value, as README says
    assert "no metric 'echo' in the history" in typo.stderr
    assert "did you mean 'echo_seconds'?" in typo.stderr


def test_the_collector_runs_on_the_event_loop_asked_for() -> None:
    from pacs_tui.cli_engine import run_collector

    async def loop_module() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert run_collector(loop_module()).startswith("uvloop")
    assert run_collector(loop_module(), "asyncio").startswith("asyncio")


def test_global_options_before_the_command_are_kept(tmp_path: Path, echo_server: int) -> None:
    config = write_config(tmp_path / "c.toml", [("a", "ARCHIVE", echo_server)], tmp_path / "h")
    out = run("--config", str(config), "--log-level", "debug", "status", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["targets"][0]["status"] == "OK"


def test_unusable_history_is_an_error_not_a_traceback(tmp_path: Path, echo_server: int) -> None:
    (tmp_path / "adir").mkdir()
    config = write_config(tmp_path / "c.toml", [("a", "ARCHIVE", echo_server)], tmp_path / "adir")
    for command in (["collect"], ["history"]):
        out = run(*command, "--config", str(config), cwd=tmp_path)
        assert out.returncode == 1, command
        assert "Traceback" not in out.stderr
        assert str(tmp_path / "adir") in out.stderr


def test_status_says_since_when_from_the_recorded_history(tmp_path: Path) -> None:
    history = tmp_path / "h.sqlite"
    config = write_config(tmp_path / "c.toml", [("gone", "GONE", closed_port())], history)
    first = json.loads(run("status", "--json", "--config", str(config), cwd=tmp_path).stdout)
    assert first["targets"][0]["status"] == "DOWN"

    # No history yet: "since" is this check. Record a DOWN an hour ago, as a collector would.
    async def record() -> None:
        store = await Store.open(history)
        store.add_event(
            Event(time.time() - 3600, "gone", EventKind.STATUS_CHANGE, Status.DOWN, "x")
        )
        await store.close()

    asyncio.run(record())
    doc = json.loads(run("status", "--json", "--config", str(config), cwd=tmp_path).stdout)
    since = doc["targets"][0]["since"]
    assert since < doc["checked_at"] and since < first["checked_at"]


@pytest.mark.parametrize("kind", ["symbolic link", "FIFO", "directory", "character device"])
def test_status_warns_about_every_history_it_refuses(tmp_path: Path, kind: str) -> None:
    history = tmp_path / "h.sqlite"
    if kind == "symbolic link":

        async def make() -> None:
            await (await Store.open(tmp_path / "real.sqlite")).close()

        asyncio.run(make())
        history.symlink_to(tmp_path / "real.sqlite")
    elif kind == "FIFO":
        os.mkfifo(history)
    elif kind == "directory":
        history.mkdir()
    else:
        history = Path("/dev/null")
    config = write_config(tmp_path / "c.toml", [("gone", "GONE", closed_port())], history)
    out = run("status", "--config", str(config), cwd=tmp_path)
    assert out.returncode == 2, out.stderr  # the check itself still runs: DOWN
    assert "status: not reading the history:" in out.stderr
    assert f"{history} is " in out.stderr and kind in out.stderr


def test_status_is_quiet_without_a_history(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", [("gone", "GONE", closed_port())], tmp_path / "h")
    out = run("status", "--config", str(config), cwd=tmp_path)
    assert out.returncode == 2
    assert "history" not in out.stderr
    assert not (tmp_path / "h").exists()


def test_status_usage_errors_are_unknown_for_monitoring(tmp_path: Path) -> None:
    out = run("status", "--jsn", cwd=tmp_path)
    assert out.returncode == 3 and "unrecognized arguments: --jsn" in out.stderr


def test_a_mistyped_config_variable_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "pacs-tui.toml").write_text("[site]\nname = 'other site'\n")
    out = run("config", "check", cwd=tmp_path, env={"PACS_TUI_CONFIG": str(tmp_path / "typo.toml")})
    assert out.returncode == 1
    assert "typo.toml (from $PACS_TUI_CONFIG) does not exist" in out.stderr
    assert "pacs-tui config init --path " in out.stderr and "typo.toml" in out.stderr


def test_history_names_unknown_kinds(tmp_path: Path) -> None:
    history = tmp_path / "h.sqlite"
    config = write_config(tmp_path / "c.toml", [("gone", "GONE", closed_port())], history)

    async def record() -> None:
        store = await Store.open(history)
        store.upsert_targets([Target("gone", TargetKind.DICOM_NODE)])
        await store.close()

    asyncio.run(record())
    out = run("history", "--kind", "dicom-nodes", "--config", str(config), cwd=tmp_path)
    assert out.returncode == 2  # a mistyped value
    assert "no target of kind 'dicom-nodes'" in out.stderr and "known: dicom-node" in out.stderr


def test_history_filters_target_kinds_and_event_kinds_apart(tmp_path: Path) -> None:
    history = tmp_path / "h.sqlite"
    config = write_config(tmp_path / "c.toml", [("ct", "CT", closed_port())], history)
    now = time.time()

    async def record() -> None:
        store = await Store.open(history)
        store.upsert_targets([Target("ct", TargetKind.DICOM_NODE)])
        store.add_samples([Sample(now - 5, "ct", "echo_seconds", 0.01)])
        store.add_event(Event(now - 4, "ct", EventKind.STATUS_CHANGE, Status.DOWN, "OK → DOWN"))
        store.add_event(Event(now - 3, "ct", EventKind.PROBE, None, "probe now by admin"))
        await store.close()

    asyncio.run(record())
    out = run("history", "--event", "status-change", "--config", str(config), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "OK → DOWN" in out.stdout and "probe now by admin" not in out.stdout
    assert "Samples" not in out.stdout  # events only
    assert "EVENT" in out.stdout.splitlines()[1]  # the column says what it holds
    both = run("history", "--kind", "dicom-node", "--config", str(config), cwd=tmp_path)
    assert "probe now by admin" in both.stdout and "Samples (1)" in both.stdout
    wrong = run("history", "--event", "status-changes", "--config", str(config), cwd=tmp_path)
    assert wrong.returncode == 2 and "did you mean 'status-change'?" in wrong.stderr
    helped = run("history", "--help", cwd=tmp_path)
    words = " ".join(helped.stdout.split())  # argparse wraps the help text
    assert "--event EVENT" in words and "(kinds of event: see --event)" in words


def test_ui_log_files_stay_private_across_rotation(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "pacs-tui.log"
    setup_logging("info", file=log_file)
    try:
        handler = logging.getLogger().handlers[0]
        assert type(handler).__name__ == "QueueHandler"  # the loop never writes the file itself
        for i in range(3):
            logging.getLogger("t").info("line %d", i)
    finally:
        close_logs()
        for old in list(logging.getLogger().handlers):
            logging.getLogger().removeHandler(old)
    assert "line 2" in log_file.read_text()
    rotating = PrivateRotatingFileHandler(log_file, maxBytes=10, backupCount=2)
    rotating.emit(logging.makeLogRecord({"msg": "x" * 50}))
    rotating.emit(logging.makeLogRecord({"msg": "y" * 50}))
    rotating.close()
    files = sorted(log_file.parent.iterdir())
    assert len(files) >= 2
    assert all(f.stat().st_mode & 0o777 == 0o600 for f in files)
    assert log_file.parent.stat().st_mode & 0o777 == 0o700


def test_the_command_leaves_within_a_bound_whatever_threads_remain(tmp_path: Path) -> None:
    """A non-daemon thread that never ends (as a worker stuck in a name lookup would be) does
    not keep the finished command alive: it exits with its own code about 2 s later."""
    script = (
        "import sys, threading, time\n"
        "threading.Thread(target=time.sleep, args=(120,), name='stuck').start()\n"
        "sys.argv = ['pacs-tui', 'config', 'check', '--config', sys.argv[1]]\n"
        "from pacs_tui.cli import entry\n"
        "entry()\n"
    )
    bad = tmp_path / "bad.toml"
    bad.write_text("[site]\nnmae = 'typo'\n")
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", script, str(bad)], capture_output=True, text=True, timeout=60
    )
    assert time.monotonic() - started < 10
    assert proc.returncode == 1, proc.stderr  # config check's own code for a bad config
    assert "nmae" in proc.stderr
    assert "leaving threads still running at exit: ['stuck']" in proc.stderr


@pytest.mark.parametrize(
    ("args", "code", "hint"),
    [
        (["stauts"], 2, "pacs-tui: unknown command 'stauts'; did you mean 'status'?"),
        (["--config", "c.toml", "histroy"], 2, "did you mean 'history'?"),
        (["config", "chek"], 2, "pacs-tui config: unknown action 'chek'; did you mean 'check'?"),
        (["status", "--log-level", "debgu"], 3, "invalid choice: 'debgu'; did you mean 'debug'?"),
        (["frobnicate"], 2, "pacs-tui: unknown command 'frobnicate' (known: run, demo,"),
        (["status", "--jsn"], 3, "unrecognized arguments: --jsn; did you mean '--json'?"),
        (["history", "--sinse=1h"], 2, "arguments: --sinse=1h; did you mean '--since'?"),
        (
            ["diagnose", "dicom", "pacs:104", "--aet", "X"],
            3,
            "--aet X; did you mean '--called-aet' or '--calling-aet'?",
        ),
    ],
)
def test_a_mistyped_command_or_choice_names_the_closest(
    tmp_path: Path, args: list[str], code: int, hint: str
) -> None:
    out = run(*args, cwd=tmp_path)
    assert out.returncode == code
    assert hint in out.stderr and "Try 'pacs-tui" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_usage_error_quoting_what_was_typed_is_made_visible(tmp_path: Path) -> None:
    # argparse quotes an ambiguous option as typed, escape sequence and all.
    out = run("history", "--c=\x1b[2J\x1b]52;c;x\x07", cwd=tmp_path)
    assert out.returncode == 2
    assert "ambiguous option: --c=␛[2J␛]52;c;x␇ could match --config, --csv" in out.stderr
    assert "\x1b" not in out.stderr and "\x07" not in out.stderr


@pytest.mark.parametrize("kind", ["directory", "under a file", "under /proc", "another file"])
def test_config_check_refuses_a_history_that_cannot_be_created(tmp_path: Path, kind: str) -> None:
    if kind == "another file":  # collect would refuse it: so does config check
        history = tmp_path / "orthanc.json"
        history.write_text('{"Name": "ORTHANC"}\n')
        expected = "expected a pacs-tui history or a new file, and this is not one (not an SQLite"
    elif kind == "directory":
        (tmp_path / "state").mkdir()
        history, expected = tmp_path / "state", "expected the path of a file, not a directory"
    elif kind == "under a file":
        (tmp_path / "afile").write_text("")
        history = tmp_path / "afile" / "h.sqlite"
        expected = f"expected a path whose folders can be created ({tmp_path / 'afile'} is a"
    else:
        history = Path("/proc/pacs-tui/h.sqlite")
        expected = "expected a path outside /proc, /sys and /dev"
    config = write_config(tmp_path / "c.toml", [("a", "A", 104)], history)
    before = sorted(tmp_path.rglob("*"))
    out = run("config", "check", "--config", str(config), cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    assert f"history.path = '{history}': {expected}" in out.stderr
    assert sorted(tmp_path.rglob("*")) == before  # nothing created by the check


def test_config_check_shows_a_syntax_error_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[site]\nname = 'x\u202e'\n[[dicom.node]\n")
    out = run("config", "check", "--config", str(bad), cwd=tmp_path)
    assert out.returncode == 1
    assert "  - (syntax) line 3, column 13: expected valid TOML" in out.stderr
    assert "      3 | [[dicom.node]\n        |             ^\n" in out.stderr
    assert "\u202e" not in out.stderr


def readme_exit_codes() -> dict[str, dict[str, int]]:
    """The README's table of exit codes for a missing or broken config, by command."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    header = (
        "| exit code when… | `status`, `check` | `run`, `collect`, `history` | `config check` |"
    )
    assert header in readme
    rows = readme.split(header, 1)[1].split("\n\n", 1)[0].strip().splitlines()[1:]
    table: dict[str, dict[str, int]] = {}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        codes = [int(c) for c in cells[1:]]
        by_command = {"status": codes[0], "check": codes[0], "config check": codes[2]}
        by_command |= dict.fromkeys(("run", "collect", "history"), codes[1])
        table[cells[0]] = by_command
    return table


@pytest.mark.parametrize(
    "command", ["status", "check", "run", "collect", "history", "config check"]
)
def test_exit_codes_for_a_missing_or_broken_config_are_the_readmes(
    tmp_path: Path, command: str
) -> None:
    """``check`` says it all on its one stdout line, as a plugin must; the others on stderr."""
    table = readme_exit_codes()
    missing = table["no config found (or `--config` / `$PACS_TUI_CONFIG` names a missing file)"]
    broken = table["the config has problems (syntax, keys, values)"]
    mistyped = table["a mistyped option or value"]
    args = command.split()
    out = run(*args, cwd=tmp_path)
    assert out.returncode == missing[command], out.stderr
    said = out.stdout if command == "check" else out.stderr
    assert "no config file found" in said
    out = run(*args, "--config", str(tmp_path / "nope.toml"), cwd=tmp_path)
    assert out.returncode == missing[command], out.stderr
    out = run(*args, cwd=tmp_path, env={"PACS_TUI_CONFIG": str(tmp_path / "nope.toml")})
    assert out.returncode == missing[command], out.stderr
    bad = tmp_path / "bad.toml"
    for text in ("[site\n", "[site]\nnmae = 'x'\n"):
        bad.write_text(text)
        out = run(*args, "--config", str(bad), cwd=tmp_path)
        assert out.returncode == broken[command], out.stderr
        assert "Traceback" not in out.stderr + out.stdout
        if command == "check":
            assert out.stdout.startswith(f"PACS-TUI UNKNOWN - config {bad}: ")
        else:
            assert "problem(s)" in out.stderr
    out = run(*args, "--bogus", cwd=tmp_path)
    assert out.returncode == mistyped[command], out.stderr


def test_status_without_a_collector_forecasts_from_the_recorded_history(tmp_path: Path) -> None:
    """A one-shot status reads the history (read-only) for a volume's past: the forecast of
    the points recorded by the collector, not "no forecast yet" from its single reading."""
    import asyncio
    import json
    import time

    from pacs_tui.model import Sample, Target, TargetKind
    from pacs_tui.store import Store

    folder = tmp_path / "archive"
    folder.mkdir()
    (folder / "study.dcm").write_bytes(b"\1" * 2**20)
    history = tmp_path / "history.sqlite"

    async def record() -> None:
        store = await Store.open(history)
        try:
            store.upsert_targets([Target("archive", TargetKind.VOLUME, {})])
            now = time.time()
            store.add_samples(  # half a mebibyte an hour, the last two hours
                Sample(now - h * 1800, "archive", "used_bytes", 2**20 - h * 2**18)
                for h in range(4, 0, -1)
            )
            await store.flush()
        finally:
            await store.close()

    asyncio.run(record())
    config = tmp_path / "c.toml"
    config.write_text(
        f'[history]\npath = "{history}"\n[[storage.volume]]\nid = "archive"\n'
        f'path = "{folder}"\nbudget = "4 MiB"\n'
    )
    out = run("status", "--json", "--config", str(config), cwd=tmp_path)
    (target,) = json.loads(out.stdout)["targets"]
    assert "no forecast yet" not in target["reason"], target
    assert target["metrics"]["days_to_full"] < 1  # 3 MiB free at ~12 MiB a day


def log_site(tmp_path: Path) -> Path:
    """A config with a history (h.sqlite) and one log followed (an empty Orthanc.log)."""
    log = tmp_path / "Orthanc.log"
    log.write_text("")
    config = tmp_path / "c.toml"
    config.write_text(
        f'[history]\npath = "{tmp_path / "h.sqlite"}"\n'
        f'[[logtail]]\nid = "orthanc"\npath = "{log}"\n'
    )
    return config


def test_status_without_a_collector_says_where_a_log_is_followed(tmp_path: Path) -> None:
    config = log_site(tmp_path)
    out = run("status", "--config", str(config), cwd=tmp_path)
    assert out.returncode == 3  # UNKNOWN: not checked here
    assert "followed only while it runs" in out.stdout and "pacs-tui collect" in out.stdout


def test_status_beside_a_collector_it_may_not_read_says_so_on_the_row(tmp_path: Path) -> None:
    """Another user's status: the collector runs and refuses it. The log's row says the
    collector follows it and why it cannot be read from here, not that none runs."""
    import socket
    import threading

    config = log_site(tmp_path)
    refusal = {"type": "refused", "reason": "carol may not attach to this collector"}
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp_path / "h.collector.sock"))  # where the config's collector listens
        server.listen()

        def refuse() -> None:
            with contextlib.suppress(OSError):
                conn, _ = server.accept()
                with conn:
                    conn.recv(4096)
                    conn.sendall(json.dumps(refusal).encode() + b"\n")

        threading.Thread(target=refuse, daemon=True).start()
        out = run("status", "--config", str(config), cwd=tmp_path)
    row = next(line for line in out.stdout.splitlines() if "orthanc" in line)
    assert "followed by the collector, not readable from here:" in row
    assert "carol may not attach" in out.stdout + out.stderr
    assert "followed only while it runs" not in out.stdout
