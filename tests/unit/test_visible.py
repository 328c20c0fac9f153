"""visible(): every string from outside is shown with its control characters made visible."""

from __future__ import annotations

import dataclasses
import logging
import threading
import unicodedata
from pathlib import Path

import pytest

from pacs_tui.logs import VisibleLogFilter, close_logs, setup_logging
from pacs_tui.model import Event, EventKind, Sample, Status, Target, TargetKind, TargetState
from pacs_tui.report import history_table, status_table
from pacs_tui.visible import ELLIPSIS, host_port, visible

ESC = "\x1b"


def harmless(text: str) -> bool:
    """No character a terminal would act on or that hides itself."""
    for char in text:
        category = unicodedata.category(char)
        if category in ("Cc", "Cs", "Zl", "Zp") or (category == "Cf" and char != "\u00ad"):
            return False
    return True


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b", "␛"),
        ("\x1b[2J\x1b[31mred", "␛[2J␛[31mred"),  # CSI: clear screen, colour
        ("\x1b]52;c;aGVsbG8=\x07", "␛]52;c;aGVsbG8=␇"),  # OSC 52: write the clipboard
        ("9\x1b]2;PWNED\x1b\\", "9␛]2;PWNED␛\\"),  # OSC 2: set the window title
        ("\x9b2J", "\\x9b2J"),  # C1 CSI in one character
        ("a\x85b\x9d", "a\\x85b\\x9d"),  # NEL, OSC as C1
        ("AE\x00TITLE", "AE␀TITLE"),
        ("del\x7f", "del␡"),
        ("line 1\nforged: line 2\r", "line 1␊forged: line 2␍"),
        ("tab\there", "tab␉here"),
        ("invoice_\u202egpj.exe", "invoice_\\u202egpj.exe"),  # right-to-left override
        ("\u2066x\u2069\u200b\u200f\ufeff", "\\u2066x\\u2069\\u200b\\u200f\\ufeff"),
        ("a\u2028b", "a\\u2028b"),
        ("bad\udcffname.dcm", "bad\\udcffname.dcm"),  # an undecodable byte (surrogateescape)
    ],
)
def test_controls_and_invisible_characters_are_made_visible(raw: str, shown: str) -> None:
    assert visible(raw) == shown
    assert harmless(visible(raw))


@pytest.mark.parametrize(
    "plain",
    [
        "ARCHIVE_MAIN",
        "1.2.276.0.7230010.3.0.3.6.7",
        "OFFIS_DCMTK_367",
        "Hôpital Saint-Éloi — Radiologie",
        "Zürich Ärztehaus, Ωmega, 東京, 🩻",
        "[bold]not markup[/] \\ [Errno 111]",
        "",
    ],
)
def test_plain_text_and_accents_are_unchanged(plain: str) -> None:
    assert visible(plain) == plain
    assert visible(plain, 200) == plain


def test_every_c0_and_c1_control_is_covered() -> None:
    for code in [*range(0x20), 0x7F, *range(0x80, 0xA0)]:
        shown = visible(chr(code))
        assert shown != chr(code) and harmless(shown), hex(code)


def test_idempotent() -> None:
    raw = "x\x1b[1m\x9b\u202e\x00\ud800y"
    assert visible(visible(raw)) == visible(raw)


def test_limit_cuts_with_an_ellipsis() -> None:
    assert visible("abcdef", 6) == "abcdef"
    assert visible("abcdefg", 6) == "abcde" + ELLIPSIS
    assert visible("abc", 1) == ELLIPSIS
    # Never inside an escape: "\x9b" is four characters and is kept whole or left out.
    assert visible("ab\x9bcd", 5) == "ab" + ELLIPSIS
    assert visible("ab\x9bcd", 7) == "ab\\x9b" + ELLIPSIS
    with pytest.raises(ValueError):
        visible("abc", 0)


def test_a_60_kb_string_with_a_limit_is_cut_quickly() -> None:
    hostile = ("\x1b]52;c;" + "A" * 1000 + "\x07") * 60
    assert len(hostile) > 60_000
    shown = visible(hostile, 80)
    assert len(shown) == 80 and shown.endswith(ELLIPSIS) and shown.startswith("␛]52;c;AAA")
    whole = visible(hostile)
    assert len(whole) == len(hostile) and ESC not in whole and "\x07" not in whole


def test_non_strings_are_shown_as_str() -> None:
    assert visible(16384) == "16384"
    assert visible(None) == "None"


@pytest.mark.parametrize(
    ("host", "port", "shown"),
    [
        ("10.20.0.17", 104, "10.20.0.17:104"),
        ("pacs.example.org", "11112", "pacs.example.org:11112"),
        ("::1", 104, "[::1]:104"),
        ("fe80::1%eth0", 11112, "[fe80::1%eth0]:11112"),
        ("[::1]", 104, "[::1]:104"),
        ("::1", None, "::1"),
        ("pacs\x1b[2J", 104, "pacs␛[2J:104"),
    ],
)
def test_host_port(host: str, port: object, shown: str) -> None:
    assert host_port(host, port) == shown


# -- the status table of `pacs-tui status` --------------------------------------------------


def hostile_state() -> TargetState:
    target = Target(
        "ct-1",
        TargetKind.DICOM_NODE,
        {"aet": "CT\x1b[2J", "host": "::1", "port": "104", "description": "\x1b[5m[bold]x"},
    )
    reason = "association rejected by \x1b]52;c;cGF5bG9hZA==\x07 \u202eevil[/]"
    return TargetState(target, Status.DOWN, reason)


def test_status_table_shows_peer_strings_visibly() -> None:
    text = status_table("Site\x1b]2;PWNED\x07", [hostile_state()])
    assert ESC not in text and "\x07" not in text and "\u202e" not in text
    assert "Site␛]2;PWNED␇" in text
    assert "CT␛[2J@[::1]:104" in text
    assert "association rejected by ␛]52;c;cGF5bG9hZA==␇ \\u202eevil[/]" in text


def test_status_table_cuts_a_huge_reason() -> None:
    state = dataclasses.replace(hostile_state(), reason="x" * 60_000)
    text = status_table("site", [state])
    assert len(text) < 2_000 and ELLIPSIS in text


def test_history_table_shows_summaries_visibly() -> None:
    event = Event(0.0, "ct-1", EventKind.STATUS_CHANGE, Status.DOWN, "OK → DOWN: \x1b[2Jgone", {})
    text = history_table([], [event])
    assert ESC not in text and "␛[2Jgone" in text


def test_message_table_cuts_a_huge_cell_so_the_other_rows_keep_their_width() -> None:
    from pacs_tui.model import LoggedMessage
    from pacs_tui.report import messages_table

    huge = LoggedMessage(0.0, "atna", "in", "110114", "", None, None, 900, "U" * 300, "PACS")
    small = dataclasses.replace(huge, sender="rad-martin\x1b[2J", sender_facility="10.1.2.3")
    lines = messages_table([huge, small]).splitlines()
    assert max(len(line) for line in lines) < 200
    assert "U" * 39 + ELLIPSIS in lines[2] and "U" * 41 not in lines[2]
    assert "rad-martin␛[2J^10.1.2.3" in lines[3] and ESC not in lines[3]


# -- log lines ------------------------------------------------------------------------------


def test_log_filter_escapes_the_message_and_its_args() -> None:
    handler_records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            handler_records.append(self.format(record))

    handler = Collect()
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(VisibleLogFilter())
    logger = logging.getLogger("pacs_tui.test_visible")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.warning("peer %s said %r\nforged", "\x1b]52;c;eA==\x07", "\x9b2J")
        try:
            raise ValueError("bad peer \x1b[2J\u202e")
        except ValueError:
            logger.exception("probe of %s failed", "ct\x1b")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    first, second = handler_records
    assert first == "WARNING peer ␛]52;c;eA==␇ said '\\x9b2J'␊forged"
    # The traceback keeps its own line breaks; the peer's text inside it is made visible.
    lines = second.split("\n")
    assert lines[0] == "ERROR probe of ct␛ failed"
    assert lines[1].startswith("Traceback")
    assert lines[-1] == "ValueError: bad peer ␛[2J\\u202e"
    assert ESC not in second and "\u202e" not in second


def test_log_filter_leaves_a_broken_record_to_the_handler() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d items", ("many",), None)
    assert VisibleLogFilter().filter(record)
    assert record.msg == "%d items"  # untouched: the handler's own error reporting takes it


def test_the_ui_log_file_holds_one_visible_line_per_record(tmp_path: Path) -> None:
    log_file = tmp_path / "pacs-tui.log"
    root = logging.getLogger()
    level = root.level
    setup_logging("info", file=log_file)
    try:
        log = logging.getLogger("test_visible_file")
        log.warning("%s is DOWN: %s", "ct-1", "rejected\n2026-01-01 ERROR forged\x1b[2J")
        try:
            raise OSError("peer said \x1b]52;c;eA==\x07")
        except OSError:
            log.exception("probe failed")
    finally:
        close_logs()
        for old in list(root.handlers):
            root.removeHandler(old)
        root.setLevel(level)
    text = log_file.read_text(encoding="utf-8")
    assert ESC not in text and "\x07" not in text
    lines = text.splitlines()
    assert lines[0].endswith("ct-1 is DOWN: rejected␊2026-01-01 ERROR forged␛[2J")
    assert lines[1].endswith("probe failed") and lines[2].startswith("Traceback")
    assert lines[-1] == "OSError: peer said ␛]52;c;eA==␇"


def test_a_thread_that_dies_is_logged_not_printed(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """An exception that ends a thread (pynetdicom's reactor can raise one) goes to the log,
    made visible, never onto the terminal the UI draws on."""
    log_file = tmp_path / "pacs-tui.log"
    root = logging.getLogger()
    level = root.level
    hook = threading.excepthook
    setup_logging("info", file=log_file)
    try:

        def boom() -> None:
            raise RuntimeError("invalid event \x1b[2J")

        thread = threading.Thread(target=boom, name="reactor-1")
        thread.start()
        thread.join()
    finally:
        close_logs()
        for old in list(root.handlers):
            root.removeHandler(old)
        root.setLevel(level)
        threading.excepthook = hook
    _, err = capfd.readouterr()
    assert "Traceback" not in err and "invalid event" not in err
    text = log_file.read_text(encoding="utf-8")
    assert "thread reactor-1 ended on an error: RuntimeError: invalid event ␛[2J" in text
    assert "Traceback" not in text  # at debug level only


def test_python_warnings_go_through_the_log_filter(tmp_path: Path) -> None:
    """pydicom warns with a peer's own text (an unknown character set): it goes to the log,
    made visible, like every other line."""
    import warnings

    log_file = tmp_path / "pacs-tui.log"
    root = logging.getLogger()
    level = root.level
    setup_logging("info", file=log_file)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("Unknown encoding '\x1b]2;PWN\x07'", UserWarning, stacklevel=1)
    finally:
        close_logs()
        for old in list(root.handlers):
            root.removeHandler(old)
        root.setLevel(level)
        logging.captureWarnings(False)
    text = log_file.read_text(encoding="utf-8")
    assert ESC not in text and "Unknown encoding '␛]2;PWN␇'" in text


def test_json_metrics_are_rounded_to_the_microsecond() -> None:
    import json

    from pacs_tui.report import history_json_text, status_json

    target = Target("ct-1", TargetKind.DICOM_NODE, {})
    state = TargetState(target, Status.OK, metrics={"echo_seconds": 0.0123456789})
    doc = json.loads(status_json("site", 0.0, [state]))
    assert doc["targets"][0]["metrics"] == {"echo_seconds": 0.012346}
    history = json.loads(history_json_text([Sample(0.0, "ct-1", "echo_seconds", 1 / 3)], []))
    assert history["samples"][0]["value"] == 0.333333


def test_the_message_table_writes_parties_and_latency_as_the_ui_does() -> None:
    from pacs_tui.model import LoggedMessage
    from pacs_tui.report import messages_table

    row = LoggedMessage(
        1_800_000_000.0, "adt", "in", "ADT^A01", "MSG1", "AA", 0.0004, 231, sender="HIS",
        receiver="RIS", sender_facility="WARD", receiver_facility="RAD",
    )  # fmt: skip
    line = messages_table([row]).splitlines()[-1]
    assert "HIS^WARD" in line and "RIS^RAD" in line and "0.4 ms" in line
