"""Logging setup: the UI logs to a 0600 file (never onto the screen), headless commands to stderr.

Log lines carry ids, statuses and reasons, never message bodies or patient data, at any level.
"""

from __future__ import annotations

import logging
import os
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

LEVELS = ("debug", "info", "warning", "error")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(level: str, *, file: Path | None = None) -> Path | None:
    """Send logs to ``file`` (created 0600, parents 0700) or to stderr when ``file`` is None."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.setLevel(level.upper())
    handler: logging.Handler
    if file is not None:
        try:
            file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.close(fd)
            # Rotated so a NOC wall that runs for months does not fill the disk.
            handler = RotatingFileHandler(file, maxBytes=5_000_000, backupCount=3, encoding="utf-8")
        except OSError as exc:
            print(
                f"pacs-tui: cannot write the log file {file} ({exc.strerror}); "
                "logging is off for this run",
                file=sys.stderr,
            )
            root.addHandler(logging.NullHandler())
            return None
    else:
        handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    # pynetdicom logs every association at INFO and every reject or refused connection at
    # ERROR, once per probe; the engine already logs status changes with the reason in words.
    # At DEBUG it dumps whole PDUs and datasets (patient names and ids), so it stays quiet at
    # every level: no log line may carry a message body.
    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
    return file
