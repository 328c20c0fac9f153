"""UIs attached to a real ``pacs-tui collect`` subprocess: two at once see the same changes, an
action is recorded under the OS user, the collector killed and restarted is reattached to; a
user outside the collector's group is refused; ``status`` reads the collector's state."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from pacs_tui import wire
from pacs_tui.app import PacsApp
from pacs_tui.collector_client import RemoteView
from pacs_tui.collector_socket import answers
from pacs_tui.operators import NotAllowed, Role

from ..peers import free_port
from ..ui.conftest import screen_text
from ..ui.test_app import until

pytestmark = pytest.mark.interop

ME = pwd.getpwuid(os.geteuid()).pw_name


class Site:
    """A config of two command checks (one turned CRIT by a flag file) and a collector for it."""

    def __init__(
        self, folder: Path, extra: str = "", *, socket: Path | None = None, group: str = ""
    ) -> None:
        self.folder = folder
        self.flag = folder / "flag"
        self.runs = folder / "runs"
        self.history = folder / "state" / "history.sqlite"
        # The default is beside the history.
        self.socket = socket or self.history.parent / "history.collector.sock"
        if socket is not None:
            extra += f'[collector]\nsocket = "{socket}"\n'
            extra += f'group = "{group}"\n' if group else ""
        flappy = f'test -e {self.flag} && {{ echo "BAD: flag set"; exit 2; }}; echo "ok"'
        counted = f'echo run >> {self.runs}; echo "counted"'
        self.config = folder / "site.toml"
        self.config.write_text(
            f'[site]\nname = "Attach ward"\n[history]\npath = "{self.history}"\n{extra}'
            f'[[command]]\nid = "flappy"\ncommand = ["/bin/sh", "-c", {json.dumps(flappy)}]\n'
            'interval = "1s"\n'
            f'[[command]]\nid = "counted"\ncommand = ["/bin/sh", "-c", {json.dumps(counted)}]\n'
            'interval = "1h"\n'
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.log = folder / "collect.log"

    def start(self) -> int:
        """Start ``collect``; its pid once its socket answers."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pacs_tui", "collect", "--config", str(self.config)],
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + 30
        while not (self.socket.exists() and answers(self.socket)):
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "the collector's socket never answered"
            time.sleep(0.05)
        return self.process.pid

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(10)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pacs_tui", *args, "--config", str(self.config)],
            capture_output=True,
            text=True,
            timeout=60,
        )


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    watched = Site(tmp_path)
    yield watched
    watched.kill()


def line_of(app: PacsApp, target: str) -> str:
    """The table line the user sees for ``target``."""
    for line in screen_text(app).splitlines():
        if f" {target} " in line and ("OK" in line or "CRIT" in line):
            return line
    return ""


def selected_line(app: PacsApp) -> str:
    """The selected target's full line, under the table."""
    lines = [line for line in screen_text(app).splitlines() if " since " in line]
    return lines[-1] if lines else ""


async def test_two_uis_follow_act_and_reattach(site: Site) -> None:
    site.start()
    first = PacsApp(partial(RemoteView.attach, site.socket))
    second = PacsApp(partial(RemoteView.attach, site.socket))
    async with (
        first.run_test(size=(160, 48), notifications=True) as one,
        second.run_test(size=(160, 48)) as two,
    ):
        for app, pilot in ((first, one), (second, two)):
            await until(pilot, lambda app=app: "attached to collector on" in screen_text(app), 15)
            await pilot.press("3")
            await until(pilot, lambda app=app: "OK" in line_of(app, "flappy"), 15)
        # Both see a check go CRIT.
        site.flag.touch()
        for app, pilot in ((first, one), (second, two)):
            await until(pilot, lambda app=app: "CRIT" in line_of(app, "flappy"), 15)
            assert "BAD: flag set" in line_of(app, "flappy")
        # An action from one is recorded under this process's OS user (by the collector).
        await one.press("slash", *"flappy", "enter")  # only its row: it is the selected one
        await until(one, lambda: "flappy" in selected_line(first))
        await one.press("p")
        deadline = time.monotonic() + 15
        while True:
            shown = site.cli("history", "--event", "operator", "--json", "--since", "5m")
            events = json.loads(shown.stdout)["events"] if shown.returncode == 0 else []
            if events:
                break
            assert time.monotonic() < deadline, shown.stderr
            await one.pause(0.2)
        assert events[0]["target"] == "flappy"
        assert events[0]["summary"] == f"probe now requested by {ME}"
        # The collector dies: both keep their screens, say so, and reattach when it returns.
        site.kill()
        for app, pilot in ((first, one), (second, two)):
            await until(pilot, lambda app=app: "collector gone since" in screen_text(app), 15)
            assert "values are stale" in screen_text(app)
            assert "CRIT" in line_of(app, "flappy")  # the last known value stays
            # Said above the rows too, not by the dimming alone.
            assert "⚠ last known values (collector gone since " in screen_text(app)
        # A probe asked meanwhile says why nothing happens: the collector is gone (not a role).
        await one.press("p")
        await until(
            one, lambda: "Nothing was sent: the collector has been gone since" in screen_text(first)
        )
        await one.press("1")  # the Overview says it over its list of changes
        await until(
            one, lambda: "Recent status changes — ⚠ last known values" in screen_text(first)
        )
        await one.press("3")
        site.flag.unlink()
        pid = site.start()
        for app, pilot in ((first, one), (second, two)):
            await until(pilot, lambda app=app: f"(pid {pid})" in screen_text(app), 20)
            await until(pilot, lambda app=app: "OK" in line_of(app, "flappy"), 15)
            assert "collector gone" not in screen_text(app).splitlines()[0]  # the header
            await until(pilot, lambda app=app: "last known values" not in screen_text(app))
    assert site.stop() == 0


async def test_a_stopped_collector_is_said_stale_and_followed_again_when_it_goes_on(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGSTOP: the collector's socket stays open and nothing comes. Its beat stops with it, so
    the attached view marks its values stale, in words, and takes up again after SIGCONT."""
    import asyncio

    from pacs_tui import collector_client

    monkeypatch.setattr(collector_client, "SILENT_SECONDS", 4.0)  # beats come every 2 s
    site.start()
    assert site.process is not None
    view = await RemoteView.attach(site.socket)
    try:
        site.process.send_signal(signal.SIGSTOP)
        deadline = time.monotonic() + 15
        while view.link.connected:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        assert view.link.reason == "it sent nothing for 4 s (stopped or hung?)"
        assert "values are stale" in view.link.describe()
        site.process.send_signal(signal.SIGCONT)
        deadline = time.monotonic() + 30
        while not view.link.connected:
            assert time.monotonic() < deadline, view.link.reason
            await asyncio.sleep(0.1)
    finally:
        if site.process is not None:
            site.process.send_signal(signal.SIGCONT)
        await view.close()
    assert site.stop() == 0


def test_status_reads_the_collector_unless_fresh(site: Site) -> None:
    site.start()
    deadline = time.monotonic() + 15
    while not site.runs.exists():  # "counted" runs once at start, then once an hour
        assert time.monotonic() < deadline
        time.sleep(0.05)
    while (shown := site.cli("status", "--json")).returncode == 3:  # until both were checked
        assert time.monotonic() < deadline, shown.stdout
        time.sleep(0.1)
    runs = site.runs.read_text().count("run")
    shown = site.cli("status", "--json")
    assert shown.returncode == 0, shown.stderr
    by_id = {t["id"]: t for t in json.loads(shown.stdout)["targets"]}
    assert by_id["counted"]["reason"] == "counted"
    assert site.runs.read_text().count("run") == runs  # read from the collector: not run again
    fresh = site.cli("status", "--fresh")
    assert fresh.returncode == 0, fresh.stderr
    assert site.runs.read_text().count("run") == runs + 1
    assert site.stop() == 0


def test_status_fresh_reads_what_only_the_collector_follows_from_it(tmp_path: Path) -> None:
    """``status --fresh`` runs the checks again but takes a listener's state from the running
    collector, instead of saying a collector is needed to follow it."""
    listener = f'[[hl7.listener]]\nid = "his-copy"\nbind = "127.0.0.1:{free_port()}"\n'
    site = Site(tmp_path, listener)
    try:
        site.start()
        deadline = time.monotonic() + 15
        while True:
            fresh = site.cli("status", "--fresh", "--json")
            rows = {t["id"]: t for t in json.loads(fresh.stdout)["targets"]}
            if rows["his-copy"]["status"] == "OK":
                break
            assert time.monotonic() < deadline, fresh.stdout
            time.sleep(0.1)
        assert rows["his-copy"]["reason"].startswith("listening on 127.0.0.1:")
        assert "collect` follows it" not in fresh.stdout
        assert site.stop() == 0
    finally:
        site.kill()


#: A viewer's first steps in the standard library only, so that any Python can run it as
#: ``nobody`` (this project's virtualenv may sit where nobody can read): connect, say hello,
#: print the collector's first line or the error.
HELLO = (
    "import json, socket, sys\n"
    "s = socket.socket(socket.AF_UNIX)\n"
    "try:\n"
    "    s.connect(sys.argv[1])\n"
    "except OSError as exc:\n"
    "    print('connect:', exc.strerror); sys.exit()\n"
    "try:\n"
    "    s.sendall(json.dumps({'type': 'hello', 'magic': 'pacs-tui', 'version': PROTOCOL})"
    ".encode()"
    " + b'\\n')\n"
    "except BrokenPipeError:\n"
    "    pass  # refused at once: the refusal is still there to read\n"
    "print(s.makefile().readline().strip())\n"
).replace("PROTOCOL", str(wire.PROTOCOL))


def as_nobody(socket_path: Path) -> str:
    """What ``nobody`` (its own uid: the kernel tells the collector) gets from the socket."""
    python = "/usr/bin/python3"
    if os.geteuid() != 0 or shutil.which("runuser") is None or not os.path.exists(python):
        why = "needs root, runuser (util-linux) and /usr/bin/python3 to act as another user"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    done = subprocess.run(
        ["runuser", "-u", "nobody", "--", python, "-c", HELLO, str(socket_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@contextlib.contextmanager
def open_folder() -> Iterator[Path]:
    """A folder everyone may pass through (the socket's own folder below it is the collector's
    to make private)."""
    with tempfile.TemporaryDirectory(prefix="pt-") as tmp:
        os.chmod(tmp, 0o755)
        yield Path(tmp)


def test_another_user_is_refused_unless_in_the_group() -> None:
    with open_folder() as folder:
        socket_path = folder / "run" / "collector.sock"
        site = Site(folder, socket=socket_path)
        try:
            site.start()
            # The folder is 0700: the kernel refuses nobody before the collector hears of it.
            assert as_nobody(socket_path) == "connect: Permission denied"
            # Opened by hand: the collector still refuses, by the kernel's word for who it is.
            os.chmod(socket_path.parent, 0o755)
            os.chmod(socket_path, 0o666)
            refused = json.loads(as_nobody(socket_path))
            assert refused["type"] == "refused"
            assert refused["reason"].startswith("nobody may not attach to this collector")
            assert site.stop() == 0
            assert "refused user nobody" in site.log.read_text()
        finally:
            site.kill()
        # With nobody's group as the collector's group, nobody attaches (and acts as nobody).
        site = Site(folder, socket=socket_path, group="nogroup")
        try:
            site.start()
            assert oct(os.stat(socket_path.parent).st_mode & 0o777) == "0o750"
            welcome = json.loads(as_nobody(socket_path))
            assert welcome["type"] == "welcome" and welcome["operator"] == "nobody"
            assert site.stop() == 0
        finally:
            site.kill()


def sampled(site: Site) -> set[str]:
    """The targets with samples in the collector's history (of the last five minutes)."""
    shown = site.cli("history", "--json", "--since", "5m")
    if shown.returncode != 0:
        return set()
    return {s["target"] for s in json.loads(shown.stdout)["samples"]}


def without_root_file_access() -> tuple[str, ...]:
    """A command prefix under which root is held to file permissions like any user."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        why = "needs root and setpriv (util-linux) to take away root's file-permission bypass"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    return ("setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--")


def test_history_through_the_collector_when_the_file_is_out_of_reach() -> None:
    prefix = without_root_file_access()
    with open_folder() as folder:
        socket_path = folder / "run" / "collector.sock"
        site = Site(folder, socket=socket_path)
        try:
            site.start()
            deadline = time.monotonic() + 15
            while not sampled(site) >= {"flappy", "counted"}:
                assert time.monotonic() < deadline
                time.sleep(0.1)
            # The history's folder becomes another user's: this user may not enter it.
            os.chown(site.history.parent, 65534, 65534)
            argv = [*prefix, sys.executable, "-m", "pacs_tui", "history", "--json"]
            argv += ["--since", "5m", "--config", str(site.config)]
            shown = subprocess.run(argv, capture_output=True, text=True, timeout=60)
            assert shown.returncode == 0, shown.stderr
            found = json.loads(shown.stdout)
            assert {s["target"] for s in found["samples"]} == {"flappy", "counted"}
            assert {e["target"] for e in found["events"]} >= {"flappy", "counted"}
            wrong = subprocess.run(
                [*argv, "--target", "flapy"], capture_output=True, text=True, timeout=60
            )
            assert wrong.returncode == 2  # a mistyped value
            assert "no target 'flapy'" in wrong.stderr and "did you mean 'flappy'" in wrong.stderr
            assert site.stop() == 0
            # No collector: the file's problem, in words.
            alone = subprocess.run(argv, capture_output=True, text=True, timeout=60)
            assert alone.returncode == 1
            assert "permission denied on a folder above it" in alone.stderr
        finally:
            site.kill()


def test_a_killed_collector_is_said_and_what_it_ran_is_down(tmp_path: Path) -> None:
    # A collector killed leaves its socket: status and check say the collector is not running
    # and the listener it ran is DOWN (it is not listening), instead of "followed only while it
    # runs"; the other checks are run here once, as without a collector.
    listener = f'[[hl7.listener]]\nid = "his-copy"\nbind = "127.0.0.1:{free_port()}"\n'
    site = Site(tmp_path, listener)
    site.start()
    site.kill()
    assert site.socket.exists()  # left behind by the kill
    status = site.cli("status", "--json")
    rows = {row["id"]: row for row in json.loads(status.stdout)["targets"]}
    assert rows["his-copy"]["status"] == "DOWN", status.stdout
    assert rows["his-copy"]["reason"].startswith("the collector is not running: its socket ")
    assert rows["counted"]["status"] == "OK"  # checked here, once
    assert "the collector is not running" in status.stderr
    check = site.cli("check")
    assert check.returncode == 2, check.stdout
    assert check.stdout.startswith("PACS-TUI CRITICAL - ")
    assert "his-copy DOWN: the collector is not running" in check.stdout
    # A check of other targets is about them: OK, the collector said on stderr only.
    counted = site.cli("check", "--target", "counted")
    assert counted.returncode == 0 and "the collector is not running" in counted.stderr


async def test_what_a_killed_collector_ran_is_down_on_screen_until_it_is_back(
    tmp_path: Path,
) -> None:
    """A tap lives in the collector: with the collector killed the HIS feed through it is cut,
    and the attached UI says so (DOWN, the status command's words) instead of its last known
    OK; a periodic check keeps its last known value, stale. Back with the collector."""
    from pacs_tui.app import SCREENS

    listener = f'[[hl7.listener]]\nid = "his-copy"\nbind = "127.0.0.1:{free_port()}"\n'
    site = Site(tmp_path, listener)
    hl7_key = next(spec.key for spec in SCREENS if spec.name == "hl7")
    try:
        site.start()
        app = PacsApp(partial(RemoteView.attach, site.socket))
        async with app.run_test(size=(160, 48)) as pilot:
            await until(pilot, lambda: "attached to collector on" in screen_text(app), 15)
            # A last known value for the periodic check before the kill (else it is UNKNOWN).
            await pilot.press("3")
            await until(pilot, lambda: "OK" in line_of(app, "flappy"), 15)
            await pilot.press(hl7_key)
            await until(pilot, lambda: "✔ OK" in row_of(app, "his-copy"), 15)
            # A listener reports on its own: no p offered where nothing can be probed.
            assert "p Probe" not in screen_text(app).splitlines()[-1]
            site.kill()
            await until(pilot, lambda: "▼ DOWN" in row_of(app, "his-copy"), 15)
            # The whole reason under the table (the row is the selected one).
            assert "the collector is not running: its socket " in screen_text(app)
            await pilot.press("3")
            await until(pilot, lambda: "OK" in line_of(app, "flappy"), 5)  # last known, stale
            assert "p Probe" in screen_text(app).splitlines()[-1]  # command checks can be
            await pilot.press(hl7_key)
            pid = site.start()
            await until(pilot, lambda: f"(pid {pid})" in screen_text(app), 20)
            await until(pilot, lambda: "✔ OK" in row_of(app, "his-copy"), 15)
        assert site.stop() == 0
    finally:
        site.kill()


async def test_a_detail_reads_its_history_on_reattach_and_outlives_its_target(
    site: Site,
) -> None:
    """A detail opened while the collector was away reads its history once it is back; a
    reload that removes its target leaves it saying so (it raised, and the UI was gone)."""
    site.start()
    app = PacsApp(partial(RemoteView.attach, site.socket))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: "attached to collector on" in screen_text(app), 15)
        await pilot.press("3")
        await until(pilot, lambda: "OK" in line_of(app, "flappy"), 15)
        await pilot.press("slash", *"flappy", "enter")
        site.kill()
        await until(pilot, lambda: "collector gone since" in screen_text(app), 15)
        await pilot.press("enter")
        await until(pilot, lambda: "Last checked" in screen_text(app))
        assert "UNKNOWN → OK" not in screen_text(app)  # no history to read: none on screen
        pid = site.start()
        await until(pilot, lambda: f"(pid {pid})" in screen_text(app), 20)
        await until(pilot, lambda: "UNKNOWN → OK: ok" in screen_text(app), 15)
        await until(pilot, lambda: "✔ OK  flappy — ok" in screen_text(app), 15)  # checked again
        text = site.config.read_text()
        start = text.index('[[command]]\nid = "flappy"')
        site.config.write_text(text[:start] + text[text.index('[[command]]\nid = "counted"') :])
        assert site.process is not None
        site.process.send_signal(signal.SIGHUP)
        gone = (
            "? UNKNOWN  flappy — no longer watched: not in the site's config now; last known: ✔ OK"
        )
        await until(pilot, lambda: gone in screen_text(app), 15)
        await until(pilot, lambda: "p Probe" not in screen_text(app).splitlines()[-1])
        await pilot.press("escape", "escape")  # back to the table, and its filter cleared
        await until(pilot, lambda: "counted" in screen_text(app))
        assert " flappy " not in screen_text(app)
    assert site.stop() == 0


def row_of(app: PacsApp, target: str) -> str:
    """The first line on screen that names ``target``."""
    return next((line for line in screen_text(app).splitlines() if f" {target} " in line), "")


async def test_sighup_reloads_the_config_and_viewers_follow(site: Site) -> None:
    import asyncio

    site.start()
    view = await RemoteView.attach(site.socket)
    try:
        deadline = time.monotonic() + 15
        while not all(s.checked for s in view.states()):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        counted_since = view.state("counted").since  # type: ignore[union-attr]
        original = site.config.read_text()
        # A broken config is refused in the log; the running one goes on.
        site.config.write_text(original + "[[command]]\nid = 5\n")
        assert site.process is not None
        site.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 15
        while "reload refused" not in site.log.read_text():
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert "still running the previous config" in site.log.read_text()
        assert "command (#3).id = 5: expected an id" in site.log.read_text()
        assert {s.id for s in view.states()} == {"flappy", "counted"}
        # flappy removed, counted unchanged, a new check added: the viewer sees it, attached.
        added = (
            '[[command]]\nid = "added"\ncommand = ["/bin/sh", "-c", "echo new one"]\n'
            'interval = "1s"\n'
        )
        kept = original[original.index('[[command]]\nid = "counted"') :]
        head = original[: original.index("[[command]]")]
        site.config.write_text(head + kept + added)
        site.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 15
        while {s.id for s in view.states()} != {"counted", "added"}:
            assert time.monotonic() < deadline, [s.id for s in view.states()]
            await asyncio.sleep(0.05)
        assert view.link.connected  # no reconnection needed
        deadline = time.monotonic() + 15
        while view.state("added").checked is None:  # type: ignore[union-attr]
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert view.state("added").reason == "new one"  # type: ignore[union-attr]
        # The unchanged check kept running: same "since", and not run again (hourly).
        assert view.state("counted").since == counted_since  # type: ignore[union-attr]
        assert site.runs.read_text().count("run") == 1
        assert (
            "1 target (added) added, 1 target (flappy) removed, no target restarted (changed), "
            "1 kept" in site.log.read_text()
        )
        assert view.probe_now("added") and not view.probe_now("flappy")
        # An [operators] table that leaves this user out makes it a viewer: the attached UI's
        # early word on an action follows the reload without a reattach (the collector judges
        # each action itself in any case).
        assert view.role is Role.ADMIN  # the collector's own user, with no [operators]
        import socket

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as free:
            free.bind(("127.0.0.1", 0))  # a port nobody uses: nothing is sent there anyway
            forward = f"udp://127.0.0.1:{free.getsockname()[1]}"
        operators = f'[operators]\nadmin = ["somebody-else"]\nforward = "{forward}"\n'
        site.config.write_text(head + kept + added + operators)
        site.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 15
        role = partial(getattr, view, "role")  # read again each time round
        while role() is not Role.VIEWER:
            assert time.monotonic() < deadline, role()
            await asyncio.sleep(0.05)
        # The trail's forwarder is made when the trail opens: the journal says when it applies.
        said = "[operators] forward changed: it takes effect at the next restart"
        assert said in site.log.read_text()
        with pytest.raises(NotAllowed):
            view.probe_now("added")
        assert view.link.connected
    finally:
        await view.close()
    assert site.stop() == 0


def mllp_ack(port: int) -> bytes:
    """One ADT^A01 sent to ``port`` over MLLP; the ACK's bytes (ConnectionRefusedError when
    nothing listens there)."""
    import socket

    message = (
        b"\x0bMSH|^~\\&|HIS|WARD|RIS|RAD|20261203101500||ADT^A01^ADT_A01|RELOAD1|P|2.5\r"
        b"EVN|A01|20261203101500\rPID|1||123^^^H^MR||DOE^J\rPV1|1|I\r\x1c\r"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(message)
        answer = b""
        while not answer.endswith(b"\x1c\r"):
            chunk = sock.recv(4096)
            assert chunk, answer
            answer += chunk
    return answer


async def test_sighup_moves_adds_and_removes_listeners_and_receivers(site: Site) -> None:
    """An HL7 listener moved to another port is restarted there, one added starts, an audit
    receiver removed stops; an unchanged listener keeps its connections' counts."""
    import asyncio

    moved, kept, added = free_port(), free_port(), free_port()
    moved_to = free_port()
    receiver = free_port()
    listeners = (
        f'[[hl7.listener]]\nid = "his-copy"\nbind = "127.0.0.1:{moved}"\n'
        f'[[hl7.listener]]\nid = "lab-copy"\nbind = "127.0.0.1:{kept}"\n'
    )
    audit = f'[[audit.syslog]]\nid = "pacs-audit"\nbind = "127.0.0.1:{receiver}"\n'
    original = site.config.read_text()
    site.config.write_text(original + listeners + audit)
    site.start()
    view = await RemoteView.attach(site.socket)
    try:
        assert b"MSA|AA|RELOAD1" in mllp_ack(moved)
        assert b"MSA|AA|RELOAD1" in mllp_ack(kept)
        new_listeners = listeners.replace(f":{moved}", f":{moved_to}") + (
            f'[[hl7.listener]]\nid = "ris-copy"\nbind = "127.0.0.1:{added}"\n'
        )
        site.config.write_text(original + new_listeners)
        assert site.process is not None
        site.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 15
        while "ris-copy" not in {s.id for s in view.states()}:
            assert time.monotonic() < deadline, [s.id for s in view.states()]
            await asyncio.sleep(0.05)
        assert "pacs-audit" not in {s.id for s in view.states()}
        assert view.link.connected
        deadline = time.monotonic() + 15
        while True:  # the moved one listens on its new port once its old task closed
            with contextlib.suppress(ConnectionRefusedError):
                assert b"MSA|AA|RELOAD1" in mllp_ack(moved_to)
                break
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        with pytest.raises(ConnectionRefusedError):
            mllp_ack(moved)
        deadline = time.monotonic() + 15
        while True:
            with contextlib.suppress(ConnectionRefusedError):
                assert b"MSA|AA|RELOAD1" in mllp_ack(added)
                break
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert b"MSA|AA|RELOAD1" in mllp_ack(kept)
        log = site.log.read_text()
        assert "1 target (ris-copy) added" in log
        assert "1 target (pacs-audit) removed" in log
        assert "1 target (his-copy) restarted (changed)" in log
    finally:
        await view.close()
    assert site.stop() == 0
    rows = site.cli("history", "--messages", "--json")
    links = [m["target"] for m in json.loads(rows.stdout)["messages"]]
    assert sorted(links) == ["his-copy", "his-copy", "lab-copy", "lab-copy", "ris-copy"]
