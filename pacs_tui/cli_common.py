"""What every command of the CLI shares: loading the config without a traceback, printing
errors made visible, the usage exit code."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys

from pacs_tui.config import Config, ConfigError, ConfigNotFound, load_config
from pacs_tui.visible import visible_lines

log = logging.getLogger("pacs_tui")

EXIT_USAGE = 2  # bad arguments or an unusable config, as argparse exits


def _load(args: argparse.Namespace) -> Config | None:
    """The config, or None after printing why it can't be had (never a traceback)."""
    try:
        return load_config(args.config)
    except ConfigNotFound as exc:
        _print_not_found(exc)
    except ConfigError as exc:
        _print_config_error(exc)
    return None


def _err(message: object) -> None:
    """Print to stderr with control characters made visible: error texts carry paths, config
    keys and peer or process strings that did not come from our own code."""
    print(visible_lines(message), file=sys.stderr)


def _print_not_found(exc: ConfigNotFound) -> None:
    if exc.explicit is not None:
        _err(f"pacs-tui: config file {exc.explicit} (from {exc.via}) does not exist.")
    else:
        _err("pacs-tui: no config file found. Looked in, in order:")
        for path in exc.searched:
            _err(f"  {path}")
    _err("\nTo start:")
    if exc.explicit is not None:
        # Write the starter config where it was looked for, not in the default place.
        _err(f"  pacs-tui config init --path {shlex.quote(str(exc.explicit))}")
        _err("                           write a commented starter config there, then edit it")
    else:
        _err("  pacs-tui config init     write a commented starter config, then edit it")
    _err("  pacs-tui demo            try it on a simulated hospital, no config needed")


def _print_config_error(exc: ConfigError) -> None:
    where = f" in {exc.source}" if exc.source else ""
    _err(f"pacs-tui: the config{where} has {len(exc.problems)} problem(s):")
    for problem in exc.problems:
        _err(f"  - {problem}")
