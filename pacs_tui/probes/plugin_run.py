"""Run one Nagios/Monitoring Plugins check as a child process, safely: no shell, its own
process group, an exact environment, bounded output and a hard deadline; never raises for the
plugin's faults. :func:`exit_status_words` turns the outcome into a plugin status in words.

* **Program.** ``argv[0]`` is either an absolute path or a bare name (``check_disk``) looked up,
  as Nagios's ``execvp`` would, in the ``PATH`` of ``env`` (never our own), absolute entries only
  (an empty or relative entry would make the working directory a place plugins come from). A
  relative path with a slash is refused. The file is checked before it is started, so a
  missing, non-executable or directory ``argv[0]`` is an ``error`` in words.
* **Output.** stdout and stderr are read as they come; each keeps its first ``output_limit``
  bytes and the rest is read and thrown away, so the plugin never blocks on a full pipe.
  Decoded as UTF-8 with replacement characters.
* **Deadline.** At ``timeout`` the whole process group gets SIGKILL. When the plugin exits but
  its pipes stay open (a grandchild it left behind holds them), they are given
  :data:`DRAIN_GRACE` and then the group is killed too. After a kill, the pipes are given
  :data:`KILL_GRACE` to close and are then closed on our side (a process that left the group
  with ``setsid`` is out of reach of the kill): the call returns within
  ``timeout + DRAIN_GRACE + KILL_GRACE`` (0.45 s) plus scheduling.
* **Cancellation** kills the process group and re-raises.

The child is started with ``loop.subprocess_exec`` and a protocol of our own rather than
``asyncio.create_subprocess_exec``: the exit is seen when it happens (Python 3.11.7's
``Process.wait()`` returns only once the pipes are closed as well, which a grandchild holding
stdout can put off for ever), and the output is capped as it arrives instead of being buffered.
Nothing here imports Textual.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import errno
import math
import os
import stat
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from signal import SIGKILL, Signals

from pacs_tui.durations import seconds_words

__all__ = [
    "DRAIN_GRACE",
    "KILL_GRACE",
    "PluginRun",
    "exit_status_words",
    "resolve_program",
    "run_plugin",
]

#: After the plugin exits, how long its pipes may stay open before its group is killed.
DRAIN_GRACE = 0.2
#: After a kill, how long the pipes may take to close before we close our ends.
KILL_GRACE = 0.25

STATUS_NAMES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
UNKNOWN = 3


@dataclass(frozen=True, slots=True)
class PluginRun:
    """How a plugin run went. ``exit_code`` is set when it exited, ``signal`` when a signal
    ended it (our SIGKILL after a time-out included); both are None when it never started
    (``error`` says why). ``truncated``: stdout or stderr was over the limit and cut.
    ``orphans``: it exited but left processes holding its output open; its group was killed
    and our ends of the pipes closed."""

    exit_code: int | None
    signal: int | None
    output: str
    stderr: str
    truncated: bool
    timed_out: bool
    elapsed: float
    error: str | None
    timeout: float = 0.0
    orphans: bool = False


def exit_status_words(run: PluginRun) -> tuple[int, str]:
    """The plugin status (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN) and the words for it.
    Anything but an exit code 0-3 is UNKNOWN, with what happened in words."""
    if run.error is not None:
        return UNKNOWN, run.error
    if run.timed_out:
        return UNKNOWN, f"timed out after {seconds_words(run.timeout)}, process group killed"
    if run.signal is not None:
        return UNKNOWN, f"killed by signal {run.signal} ({_signal_name(run.signal)})"
    code = run.exit_code
    if code is None:
        return UNKNOWN, "no exit status"
    if 0 <= code <= 3:
        return code, STATUS_NAMES[code]
    if code == 126:
        return UNKNOWN, "exit code 126: command found but could not be run"
    if code == 127:
        return UNKNOWN, "exit code 127: command not found"
    return UNKNOWN, f"exit code {code}: not a plugin status (0 to 3)"


def _signal_name(number: int) -> str:
    try:
        return Signals(number).name
    except ValueError:
        return "unknown signal"


def resolve_program(name: str, env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """``(path, None)`` for the program to start, or ``(None, words)`` when there is none."""
    if not name:
        return None, "empty command name"
    if "\0" in name:
        return None, f"command name with a NUL character: {name!r}"
    if os.path.isabs(name):
        problem = _not_runnable(name)
        return (None, problem) if problem else (name, None)
    if "/" in name:
        return None, f"relative path {name}: give an absolute path or a name found on PATH"
    path = env.get("PATH")
    if not path:
        return None, f"{name} is not an absolute path and the plugin's environment has no PATH"
    for folder in path.split(os.pathsep):
        if not os.path.isabs(folder):
            continue
        candidate = os.path.join(folder, name)
        if _not_runnable(candidate) is None:
            return candidate, None
    return None, f"{name} not found on PATH {path}"


def _not_runnable(path: str) -> str | None:
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return f"no such file: {path}"
    except PermissionError:
        return f"permission denied: {path}"
    except (OSError, ValueError) as exc:
        return f"cannot read {path}: {_os_words(exc)}"
    if stat.S_ISDIR(info.st_mode):
        return f"is a directory: {path}"
    if not stat.S_ISREG(info.st_mode):
        return f"not a regular file: {path}"
    if not os.access(path, os.X_OK):
        return f"not executable: {path}"
    return None


def _os_words(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    return str(exc)


class _Collector(asyncio.SubprocessProtocol):
    """Keeps the first ``limit`` bytes of stdout and stderr, drops the rest, and says when the
    process has exited and when both pipes are closed."""

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int) -> None:
        self.limit = limit
        self.buffers = {1: bytearray(), 2: bytearray()}
        self.cut = {1: False, 2: False}
        self.exited: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self._open = {1, 2}

    def pipe_data_received(self, fd: int, data: bytes | bytearray) -> None:
        buffer = self.buffers.get(fd)
        if buffer is None:
            return
        room = self.limit - len(buffer)
        if room > 0:
            buffer += data[:room]
        if len(data) > room:
            self.cut[fd] = True

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self._open.discard(fd)
        if not self._open and not self.closed.done():
            self.closed.set_result(None)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)

    def text(self, fd: int) -> str:
        # final=False when cut: a character split by the limit is dropped, not shown as "?".
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        return decoder.decode(bytes(self.buffers[fd]), final=not self.cut[fd])


async def _settle(future: asyncio.Future[None], seconds: float) -> bool:
    """Wait up to ``seconds`` for ``future`` without cancelling it; True when it is done."""
    if not future.done() and seconds > 0:
        await asyncio.wait({future}, timeout=seconds)
    return future.done()


def _kill(pid: int) -> None:
    """SIGKILL the plugin's process group. The plugin leads it (start_new_session) and, as a
    session leader, cannot leave it; the group id cannot be handed to another process while
    any member is alive, so this reaches only the plugin's own processes."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, SIGKILL)


async def run_plugin(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str],
    output_limit: int = 64 * 1024,
    cwd: str | None = None,
) -> PluginRun:
    """Run ``argv`` (see the module): never through a shell, stdin from /dev/null, its own
    session and process group, exactly ``env`` as its environment, every other fd closed."""
    if not (timeout > 0 and math.isfinite(timeout)):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if output_limit < 0:
        raise ValueError(f"output_limit must not be negative, got {output_limit!r}")
    loop = asyncio.get_running_loop()
    started = loop.time()

    def failed(words: str) -> PluginRun:
        return PluginRun(None, None, "", "", False, False, loop.time() - started, words, timeout)

    if not argv:
        return failed("empty command line")
    program, problem = resolve_program(argv[0], env)
    if program is None:
        return failed(problem or "no program")
    deadline = started + timeout
    try:
        transport, collector = await loop.subprocess_exec(
            lambda: _Collector(loop, output_limit),
            program,
            *argv[1:],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
    except OSError as exc:
        return failed(_start_error(program, cwd, exc))
    except ValueError as exc:  # a NUL in an argument or the environment, "=" in a name
        return failed(f"cannot start {program}: {exc}")

    pid = transport.get_pid()
    timed_out = orphans = False
    try:
        if not await _settle(collector.exited, deadline - loop.time()):
            timed_out = True
            _kill(pid)
        elif not await _settle(collector.closed, DRAIN_GRACE):
            orphans = True
            _kill(pid)
        if timed_out or orphans:
            kill_deadline = loop.time() + KILL_GRACE
            await _settle(collector.exited, KILL_GRACE)
            await _settle(collector.closed, kill_deadline - loop.time())
    except BaseException:
        # Cancelled (or worse): the plugin must not outlive the run that started it.
        if not (collector.exited.done() and collector.closed.done()):
            _kill(pid)
        transport.close()
        raise
    transport.close()

    code = transport.get_returncode()
    return PluginRun(
        exit_code=code if code is not None and code >= 0 else None,
        signal=-code if code is not None and code < 0 else None,
        output=collector.text(1),
        stderr=collector.text(2),
        truncated=any(collector.cut.values()),
        timed_out=timed_out,
        elapsed=loop.time() - started,
        error=None,
        timeout=timeout,
        orphans=orphans,
    )


def _start_error(program: str, cwd: str | None, exc: OSError) -> str:
    if exc.errno == errno.ENOEXEC:
        return f"not an executable format: {program} (a script without a #! line?)"
    if exc.errno == errno.ENOENT:
        if cwd is not None and not os.path.isdir(cwd):
            return f"no such folder to run in: {cwd}"
        if os.path.exists(program):
            return f"cannot start {program}: the interpreter on its #! line is missing"
        return f"no such file: {program}"
    if exc.errno == errno.EACCES:
        return f"not executable: {program}"
    return f"cannot start {program}: {_os_words(exc)}"
