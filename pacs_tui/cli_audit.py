"""``pacs-tui audit verify``: walk the operator audit trail's hash chain and say whether every
line is as written, or which one was changed, inserted or deleted."""

from __future__ import annotations

import argparse
import json

from pacs_tui.cli_common import EXIT_USAGE, _err, _load
from pacs_tui.operator_trail import TrailError, trail_path, verify
from pacs_tui.visible import visible


def cmd_audit(args: argparse.Namespace) -> int:
    config = _load(args)
    if config is None:
        return EXIT_USAGE
    path = trail_path(config.history.path)
    try:
        verdict = verify(path)
    except TrailError as exc:
        _err(f"pacs-tui: {exc}")
        return 1
    if args.json:
        print(
            json.dumps(
                {
                    "path": str(path),
                    "rows": verdict.rows,
                    "intact": verdict.intact,
                    "problems": verdict.problems,
                    "first": verdict.first,
                    "last": verdict.last,
                },
                indent=2,
            )
        )
        return 0 if verdict.intact else 1
    shown = visible(str(path), 200)
    if not path.exists():
        print(f"operator trail {shown}: none yet (no action has been recorded)")
        return 0
    if verdict.intact:
        print(f"operator trail {shown}: {verdict.rows:,} lines, chain intact")
        return 0
    print(f"operator trail {shown}: {verdict.rows:,} lines, the chain is BROKEN:")
    for problem in verdict.problems:
        print(f"  - {problem}")
    return 1
