"""What the backup tools' readers share: the child's environment (a password goes there, never
into argv), a private cache folder, and a tool's errors, times and JSON read in words."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import platformdirs

from pacs_tui.durations import seconds_words
from pacs_tui.private_paths import make_private_dirs
from pacs_tui.visible import visible

if TYPE_CHECKING:  # the probes package imports the sources, which import this
    from pacs_tui.probes.plugin_run import PluginRun

#: The tools are looked up here (as the command source's plugins are), never in our own PATH.
BASE_PATH = "/usr/local/bin:/usr/bin:/bin"
#: A line of a tool's error shown in a reason is cut here.
LINE_LIMIT = 200
#: What stands for a password found in a tool's output.
MASK = "•••"

FailureKind = Literal["missing", "locked", "password", "timeout", "start", "other"]


class Unreadable(ValueError):
    """A tool's output that is not what it prints (said in words): UNKNOWN."""


@dataclass(frozen=True, slots=True)
class Failure:
    """A tool's run that failed, what kind of failure, in words (never with the password)."""

    kind: FailureKind
    words: str


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """An integrity check's verdict: ``ok`` True (passed), False (the repository has errors)
    or None (it did not conclude: timed out, locked out), ``at`` when it ended."""

    ok: bool | None
    words: str
    at: float


def child_env(extra: Mapping[str, str]) -> dict[str, str]:
    """Exactly what a tool's child gets: a fixed PATH, the C locale, HOME (ssh finds its keys
    there for a remote repository) and ``extra``; nothing else of our environment."""
    env = {"PATH": BASE_PATH, "LC_ALL": "C"}
    home = os.environ.get("HOME")
    if home:
        env["HOME"] = home
    env.update(extra)
    return env


def private_dir(tool: str) -> str:
    """The tool's own cache and config folder, ``backup/<tool>`` in pacs-tui's user cache
    folder, made 0700 (a service user without a home folder gets one this way, and the tool
    never writes in the backup user's own). Blocking: call it in a thread."""
    path = Path(platformdirs.user_cache_dir("pacs-tui")) / "backup" / tool
    make_private_dirs(path)
    return str(path)


def scrub(text: str, secret: str | None) -> str:
    """``text`` with every line that holds ``secret`` masked whole: masking the password alone
    would show where it stood, and a password that is a word ("wrong") would be read back
    from "••• password or no key found"."""
    if not secret or secret not in text:
        return text
    return "\n".join(MASK if secret in line else line for line in text.splitlines())


_NOISE = re.compile(
    r"^(Traceback |  File |    |Platform:|Linux:|Borg:|PID:|sys\.argv:|SSH_ORIGINAL_COMMAND:|"
    r"Exception ignored|\S+\.py:\d+: \w*Warning|Warning: Password input may be echoed|"
    r"using temporary cache|create exclusive lock|load indexes|check all packs|"
    r"check snapshots|\[\d+:\d\d\]|read \d|github\.com/|main\.|runtime\.)"
)


def error_line(text: str, secret: str | None = None) -> str:
    """The line of a tool's stderr that says what went wrong (restic's ``Fatal:``, else the
    first line that is not progress or a traceback), masked and made visible; "" for none."""
    lines = [line.strip() for line in scrub(text, secret).splitlines() if line.strip()]
    fatal = next((line for line in lines if line.startswith("Fatal:")), None)
    found = fatal or next((line for line in lines if not _NOISE.match(line)), "")
    return visible(found.removeprefix("Fatal:").strip(), LINE_LIMIT)


def run_failure(run: PluginRun, doing: str) -> Failure | None:
    """The failures every tool has alike: not started, timed out, killed by a signal."""
    if run.error is not None:
        return Failure("start", f"{doing}: {visible(run.error, LINE_LIMIT)}")
    if run.timed_out:
        return Failure("timeout", f"{doing} did not answer within {seconds_words(run.timeout)}")
    if run.signal is not None:
        return Failure("other", f"{doing} was killed by signal {run.signal}")
    return None


_ISO = re.compile(
    r"^(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)?$", re.IGNORECASE
)


def parse_time(value: Any, naive: tzinfo | None = None) -> float:
    """An ISO 8601 time ("2026-12-02T11:35:14.620500244Z", "…+01:00") as epoch seconds; a
    time without a zone is taken in ``naive`` (ValueError without one). Fractions beyond
    microseconds (restic's nanoseconds) are dropped."""
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError("not a time")
    match = _ISO.match(value.strip())
    if match is None:
        raise ValueError("not an ISO 8601 time")
    day, clock, fraction, zone = match.groups()
    text = f"{day}T{clock}{(fraction or '')[:7]}"
    if zone:
        text += "+00:00" if zone.upper() == "Z" else zone
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        if naive is None:
            raise ValueError("no time zone")
        moment = moment.replace(tzinfo=naive)
    seconds = moment.timestamp()
    if not math.isfinite(seconds):
        raise ValueError("not a time")
    return seconds


def load_json(text: str, what: str) -> Any:
    """``text`` as JSON, or :class:`Unreadable` naming ``what`` printed it."""
    if not text.strip():
        raise Unreadable(f"{what} printed nothing")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise Unreadable(f"{what} printed something that is not JSON") from None


def size_value(value: Any) -> float | None:
    """A size in bytes from JSON: a finite number ≥ 0 (not a boolean), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return float(value)


def text_value(value: Any, limit: int = 256) -> str | None:
    """A short string from JSON, else None."""
    return value if isinstance(value, str) and len(value) <= limit else None


class NoPassword(Exception):
    """The password's secret is not there (said in words): UNKNOWN, not DOWN."""


def resolve_password(name: str) -> str:
    """The secret ``name``, resolved now (a ``pacs-tui secrets set`` since the last check
    counts), never prompting. Blocking (a keyring may ask D-Bus): call it in a thread."""
    from pacs_tui import secret_store

    try:
        return secret_store.resolve(name, may_prompt=False).value
    except secret_store.SecretNotFound as exc:
        raise NoPassword(
            f"secret {name} (the password) not found: {'; '.join(exc.reasons)}"
        ) from None
    except secret_store.SecretError as exc:
        raise NoPassword(f"{exc} (the password)") from None


def check_errors(text: str, secret: str | None) -> str:
    """What an integrity check that found errors says: its summary ("repository contains
    errors", "errors found") and its first error, masked and made visible."""
    lines = [line.strip() for line in scrub(text, secret).splitlines() if line.strip()]
    summary = next(
        (line for line in lines if line.startswith("Fatal:") or "errors found" in line.lower()),
        "",
    )
    first = ""
    for index, line in enumerate(lines):
        if line != summary and "error" in line.lower() and not _NOISE.match(line):
            first = line
            if line.endswith(":") and index + 1 < len(lines):
                first = f"{line} {lines[index + 1]}"
            break
    summary = summary.removeprefix("Fatal:").strip().rstrip(".")
    words = f"{summary} ({first})" if summary and first else summary or first
    return visible(words or "it reported errors", LINE_LIMIT)
