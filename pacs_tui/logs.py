"""Logging setup: the UI logs to a 0600 file (never onto the screen), headless commands to stderr.

Log lines carry ids, statuses and reasons, never message bodies or patient data, at any level.
The UI's file is written by a background thread (a queue in between), so a slow disk never
stalls the event loop. Every line goes through :class:`VisibleLogFilter`: a reason or an AE
title that a peer filled with escape sequences or newlines cannot act on the terminal of an admin
who tails the log, nor forge a log line.
"""

from __future__ import annotations

import atexit
import io
import logging
import os
import queue
import sys
import threading
from logging.handlers import QueueHandler, QueueListener, RotatingFileHandler
from pathlib import Path

from pacs_tui.private_paths import make_private_dirs, open_private
from pacs_tui.visible import visible, visible_lines

LEVELS = ("debug", "info", "warning", "error")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


_listeners: list[QueueListener] = []


def close_logs() -> None:
    """Write out every queued log line and close the files (also run at normal exit; call it
    before ``os._exit``, which skips that)."""
    while _listeners:
        _listeners.pop().stop()
    logging.shutdown()


atexit.register(close_logs)


class VisibleLogFilter(logging.Filter):
    """Makes a record's message (with its arguments) :func:`~pacs_tui.visible.visible`; its
    traceback and stack keep their line breaks, every line made visible.

    A handler's filter, so it runs before any formatting (also before a ``QueueHandler`` flattens
    the record into one string, after which a message's newline and a traceback's could no
    longer be told apart). A record whose arguments do not fit its format is left alone: the
    handler reports it as logging always does.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        record.msg = visible(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = visible_lines(_PLAIN.formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = visible_lines(record.stack_info)
        return True


_PLAIN = logging.Formatter()


class PrivateRotatingFileHandler(RotatingFileHandler):
    """Rotated so a NOC wall that runs for months does not fill the disk; every file 0600.

    The file is opened only if it is a regular file (never through a symbolic link, never
    blocking on a FIFO) and chmodded through its descriptor; an :class:`OSError` says why not
    (:class:`~pacs_tui.private_paths.RefusedPath` for a link or a special file). Rotation only
    renames (a rename moves a link, never what it points to) and reopens the name the same way.
    """

    def _open(self) -> io.TextIOWrapper:
        fd = open_private(self.baseFilename, os.O_WRONLY | os.O_APPEND)
        return open(fd, "a", encoding=self.encoding, errors=self.errors)

    def doRollover(self) -> None:
        """The stock rotation, with ``lexists`` for ``exists``: a dangling link is moved along
        like anything else rather than left in the way."""
        if self.stream:
            self.stream.close()
            self.stream = None
        if self.backupCount > 0:
            for i in range(self.backupCount - 1, 0, -1):
                source = self.rotation_filename(f"{self.baseFilename}.{i}")
                if os.path.lexists(source):
                    os.replace(source, self.rotation_filename(f"{self.baseFilename}.{i + 1}"))
            if os.path.lexists(self.baseFilename):
                os.replace(self.baseFilename, self.rotation_filename(f"{self.baseFilename}.1"))
        if not self.delay:
            self.stream = self._open()


def setup_logging(level: str, *, file: Path | None = None) -> Path | None:
    """Send logs to ``file`` (0600, parents 0700) or to stderr when ``file`` is None."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.setLevel(level.upper())
    handler: logging.Handler
    if file is not None:
        try:
            make_private_dirs(file.parent)
            target = PrivateRotatingFileHandler(
                file, maxBytes=5_000_000, backupCount=3, encoding="utf-8"
            )
        except OSError as exc:
            print(
                f"pacs-tui: cannot write the log file {file} ({exc.strerror}); "
                "logging is off for this run",
                file=sys.stderr,
            )
            root.addHandler(logging.NullHandler())
            return None
        target.setFormatter(logging.Formatter(FORMAT))
        records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        listener = QueueListener(records, target)
        listener.start()
        _listeners.append(listener)
        handler = QueueHandler(records)
    else:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(VisibleLogFilter())
    root.addHandler(handler)
    # pynetdicom logs every association at INFO and every reject or refused connection at
    # ERROR, once per probe; the engine already logs status changes with the reason in words.
    # At DEBUG it dumps whole PDUs and datasets (patient names and ids), so it stays quiet at
    # every level: no log line may carry a message body.
    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
    # aiosqlite logs every statement with its parameters at DEBUG: the history's rows (a
    # plugin's output, a reason quoting a peer) would end up in the log. Warnings and up only.
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
    # pydicom, the same: its warnings quote the values it decodes (a peer's character set,
    # a dataset's elements). Python warnings (pydicom raises UserWarnings beside its log
    # lines) go through logging too, so they are filtered and made visible like every line.
    # A filter, not a level: importing pydicom resets its logger's level to WARNING.
    pydicom_log = logging.getLogger("pydicom")
    for stale in [f for f in pydicom_log.filters if isinstance(f, _CriticalOnly)]:
        pydicom_log.removeFilter(stale)
    pydicom_log.addFilter(_CriticalOnly())
    logging.captureWarnings(False)  # (re)capture: a second setup must not keep a stale hook
    logging.captureWarnings(True)
    # An exception that ends a thread (pynetdicom's reactor threads raise on some invalid
    # event orders) would print a traceback on stderr: over the UI's screen, or unescaped.
    threading.excepthook = _log_thread_exception
    return file


class _CriticalOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.CRITICAL


def _log_thread_exception(args: threading.ExceptHookArgs) -> None:
    """Log a thread's uncaught exception in one line (the traceback at debug level) instead of
    printing it: on the UI's screen it would tear the display, and on ``status``'s stderr a
    peer's misbehaviour (pynetdicom's reactor raises on some invalid event orders) is not a
    traceback the admin should read."""
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "a thread"
    log = logging.getLogger("pacs_tui.threads")
    log.error("thread %s ended on an error: %s: %s", name, args.exc_type.__name__, args.exc_value)
    log.debug(
        "traceback of thread %s",
        name,
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),  # type: ignore[arg-type]
    )
