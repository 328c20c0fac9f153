"""Logging setup: the UI logs to a 0600 file (never onto the screen), headless commands to stderr.

Log lines carry ids, statuses and reasons, never message bodies or patient data.
"""

from __future__ import annotations

import logging
import os
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
        file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.close(fd)
        handler = logging.FileHandler(file, encoding="utf-8")
    else:
        handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    # pynetdicom logs every association at INFO and every reject or refused connection at
    # ERROR, once per probe; the engine already logs status changes with the reason in words.
    if level.lower() != "debug":
        logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
    return file
