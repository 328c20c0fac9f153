"""Who may do what in pacs-tui itself: the operator (an OS user, from the process or from the
collector socket's peer credentials), the role ``[operators]`` gives them (viewer, technician,
admin) and the role each action needs. Checked by the engine for every action, whoever asks.
"""

from __future__ import annotations

import enum
import grp
import os
import pwd
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pacs_tui import config_reader as cv
from pacs_tui.config_reader import Reader


class Role(enum.IntEnum):
    """What an operator may do; each role may do what the ones below it may."""

    VIEWER = 0
    TECHNICIAN = 1
    ADMIN = 2

    @property
    def word(self) -> str:
        return self.name.lower()


#: The role each action needs. Reading states, history and masked messages needs none.
ACTIONS: Mapping[str, Role] = {
    "probe-now": Role.TECHNICIAN,
    "probe-all": Role.TECHNICIAN,
    "acknowledge": Role.TECHNICIAN,
    "patient-lookup": Role.TECHNICIAN,
    "drill": Role.ADMIN,
    "phi-reveal": Role.ADMIN,
    "config-change": Role.ADMIN,
}


#: How each action reads in a refusal ("may not …").
ACTION_WORDS: Mapping[str, str] = {
    "probe-now": "probe now",
    "probe-all": "probe all",
    "acknowledge": "acknowledge",
    "patient-lookup": "search the message log by patient",
    "drill": "run a drill",
    "phi-reveal": "reveal patient data",
    "config-change": "change the config",
}


def probe_action(kind: str) -> str:
    """The action "probe now" is for a target of ``kind``: running a failover drill needs an
    admin, probing anything else a technician."""
    return "drill" if kind == "drill" else "probe-now"


class NotAllowed(Exception):
    """An action the operator's role does not allow; the words say who, what and why."""


@dataclass(frozen=True, slots=True)
class OperatorsConfig:
    """``[operators]``: users and ``group:NAME``s per role (anyone else is a viewer), the idle
    lock (seconds, 0 off) and where the operator trail is forwarded (``udp://host:port`` or
    ``tcp://host:port``, "" none). Without the table (``configured`` false) the user the engine
    runs as, and root, are admins and everyone else a viewer."""

    technician: tuple[str, ...] = ()
    admin: tuple[str, ...] = ()
    idle_lock: float = 0.0
    forward: str = ""
    configured: bool = False


@dataclass(frozen=True, slots=True)
class Operator:
    user: str
    uid: int
    role: Role
    groups: frozenset[str] = field(default_factory=frozenset)

    def may(self, action: str) -> bool:
        return self.role >= ACTIONS.get(action, Role.ADMIN)

    def check(self, action: str) -> None:
        """Raise :class:`NotAllowed` unless this operator may do ``action``."""
        if not self.may(action):
            needed = ACTIONS.get(action, Role.ADMIN)
            raise NotAllowed(
                f"{self.user} ({self.role.word}) may not "
                f"{ACTION_WORDS.get(action, action.replace('-', ' '))}: "
                f"it needs the {needed.word} role ([operators] in the config)"
            )


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def groups_of(uid: int) -> frozenset[str]:
    """The names of the groups ``uid`` is in (primary and supplementary)."""
    try:
        entry = pwd.getpwuid(uid)
        ids = os.getgrouplist(entry.pw_name, entry.pw_gid)
    except (KeyError, OSError):
        return frozenset()
    names = set()
    for gid in ids:
        try:
            names.add(grp.getgrgid(gid).gr_name)
        except KeyError:
            continue
    return frozenset(names)


def role_for(user: str, uid: int, groups: Iterable[str], config: OperatorsConfig) -> Role:
    if not config.configured:
        return Role.ADMIN if uid in (0, os.getuid()) else Role.VIEWER
    names = {user, *(f"group:{g}" for g in groups)}
    if names & set(config.admin):
        return Role.ADMIN
    if names & set(config.technician):
        return Role.TECHNICIAN
    return Role.VIEWER


def operator_for(uid: int, config: OperatorsConfig) -> Operator:
    """The operator of OS user ``uid`` (a socket peer's, or this process's)."""
    user, groups = user_name(uid), groups_of(uid)
    return Operator(user, uid, role_for(user, uid, groups, config), groups)


def local_operator(config: OperatorsConfig) -> Operator:
    return operator_for(os.getuid(), config)


def _forward(value: Any) -> str:
    text = cv.nonempty_str(value)
    scheme, sep, address = text.partition("://")
    if scheme not in ("udp", "tcp") or not sep:
        raise ValueError
    host, colon, port = address.rpartition(":")
    if not colon or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError
    return text


def read_operators(reader: Reader, raw: Any) -> OperatorsConfig:
    """The ``[operators]`` table (absent: the engine's own user is admin, others viewers)."""
    if raw is None:
        return OperatorsConfig()
    if not isinstance(raw, dict):
        reader.problem("operators", raw, "a table: [operators]")
        return OperatorsConfig()
    reader.check_keys(raw, "operators", {"technician", "admin", "idle_lock", "forward"})
    who = 'a list of user names and "group:NAME"s, like ["alice", "group:pacs-admins"]'

    def names(value: Any) -> tuple[str, ...]:
        items = cv.string_list(value, max_items=1000, max_length=256)
        if any(not item.removeprefix("group:").strip() for item in items):
            raise ValueError  # "" or "group:" alone: nobody, by mistake
        return items

    technician = reader.get(raw, "technician", "operators", names, who, ())
    # With the table, only those listed may act: without an admin, nobody (root included)
    # could run a drill or change anything, a trap for a table written for idle_lock alone.
    admin = reader.get(
        raw, "admin", "operators", names,
        f"{who}: with an [operators] table only those listed may act, root included",
    )  # fmt: skip
    for key, listed in (("technician", technician), ("admin", admin)):
        for item in listed if reader.check_paths and isinstance(listed, tuple) else ():
            group = item.removeprefix("group:")
            if item.startswith("group:") and not cv.group_exists(group):
                reader.problem(f"operators.{key}", item, "a group this machine has")
    idle = cv.duration_between(0.0, 86400.0)
    idle_lock = reader.get(
        raw, "idle_lock", "operators", idle, "a duration up to 1d, like '15m' ('0s': off)", 0.0
    )
    forward = reader.get(
        raw, "forward", "operators", _forward,
        'where the operator trail goes as syslog: "udp://host:514" or "tcp://host:601"', "",
    )  # fmt: skip
    return OperatorsConfig(technician, admin, idle_lock, forward, configured=True)
