"""``pacs-tui audit verify``: walk the operator audit trail's hash chain and say whether every
line is as written, or which one was changed, inserted or deleted."""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import replace

from pacs_tui.cli_common import EXIT_USAGE, _err, _load
from pacs_tui.config import Config
from pacs_tui.model import EventKind, iso
from pacs_tui.operator_trail import TrailError, missing_actions, trail_path, verify
from pacs_tui.visible import visible


def cmd_audit(args: argparse.Namespace) -> int:
    config = _load(args)
    if config is None:
        return EXIT_USAGE
    path = trail_path(config.history.path)
    try:
        verdict = verify(path)
        recorded = asyncio.run(_recorded_actions(config))
        missing = missing_actions(path, recorded)
    except TrailError as exc:
        _err(f"pacs-tui: {exc}")
        return 1
    if missing:
        verdict = replace(verdict, problems=[*verdict.problems, *missing])
    if args.json:
        print(
            json.dumps(
                {
                    "path": str(path),
                    "rows": verdict.rows,
                    "intact": verdict.intact,
                    "problems": verdict.problems,
                    "first": iso(verdict.first),  # ISO 8601, as every JSON of pacs-tui
                    "last": iso(verdict.last),
                },
                indent=2,
            )
        )
        return 0 if verdict.intact else 1
    shown = visible(str(path), 200)
    if not path.exists() and verdict.intact:
        print(f"operator trail {shown}: none yet (no action has been recorded)")
        return 0
    lines = f"{verdict.rows:,} line{'' if verdict.rows == 1 else 's'}"
    if not path.exists():
        lines = "missing"
    if verdict.intact:
        print(f"operator trail {shown}: {lines}, chain intact")
        return 0
    print(f"operator trail {shown}: {lines}, the chain is BROKEN:")
    for problem in verdict.problems:
        print(f"  - {problem}")
    return 1


async def _recorded_actions(config: Config) -> list[tuple[float, str, str]]:
    """The operator actions the history holds (time, user, action): each has a trail line, so
    the trail's lines deleted at its end, or the whole trail, show against them."""
    from pacs_tui.cli_engine import open_history_readonly

    history = await open_history_readonly(config, who="audit verify")
    if history is None:
        return []
    try:
        events = await history.events(kind=EventKind.OPERATOR)
    finally:
        await history.close()
    found = []
    for event in events:
        user, action = event.fields.get("operator"), event.fields.get("action")
        if isinstance(user, str) and isinstance(action, str):
            found.append((event.ts, user, action))
    return found
