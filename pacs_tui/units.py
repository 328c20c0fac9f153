"""Numbers in base units as people read them, by unit: one formatter for the CLI's tables, the
screens, the charts' axes and ``report`` (seconds as ms or s, bytes as KiB…TiB, percent,
counts). No Textual here.
"""

from __future__ import annotations

import math

from pacs_tui.source import MetricSpec

#: What an absent value reads as.
NONE_TEXT = "—"
_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def ms(seconds: float | None) -> str:
    """Seconds as a human reads them at a glance: ``"0.4 ms"``, ``"12 ms"``, ``"1.25 s"``,
    ``"20 min"``, ``"22 h"``, ``"3.5 days"``."""
    if seconds is None or math.isnan(seconds):
        return NONE_TEXT
    millis = seconds * 1000.0
    if millis < 10:
        return f"{millis:.1f} ms"
    if millis < 1000:
        return f"{millis:.0f} ms"
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 100:  # a drill's RTO: "66.4 s", not "66.41 s" beside "2.0 h"
        return f"{seconds:.1f} s"
    if seconds < 120:  # past two minutes, minutes: "3 min" beside "2.1 h", not "181 s"
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    # A backup's age, a mirror's lag: hours, then days ("22 h", "3.5 days").
    if seconds < 72 * 3600:
        hours = seconds / 3600
        return f"{hours:.1f} h" if hours < 10 else f"{hours:.0f} h"
    days = seconds / 86400
    return f"{days:.1f} days" if days < 10 else f"{days:.0f} days"


def size(count: float) -> str:
    """Bytes in binary units: ``"512 B"``, ``"1.5 GiB"``."""
    value = float(count)
    for unit in _BYTE_UNITS:
        if abs(value) < 1024 or unit == _BYTE_UNITS[-1]:
            if unit == "B":
                return f"{value:.0f} B"
            return f"{value:.1f} {unit}" if abs(value) < 100 else f"{value:.0f} {unit}"
        value /= 1024
    return f"{value:.0f} {_BYTE_UNITS[-1]}"  # not reached


def number(value: float) -> str:
    """A plain number: whole numbers with thousands separators, others to 4 significant
    digits."""
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:.4g}"


def format_value(unit: str, value: float | None) -> str:
    """``value`` (in base units) for a person, by ``unit`` ("s", "B", "%", "ratio", "days",
    "c" or "")."""
    if value is None or math.isnan(value):
        return NONE_TEXT
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if unit == "s":
        return ms(value)
    if unit == "B":
        return size(value)
    if unit == "days":  # "13 days", "5 hours"
        from pacs_tui.forecast import days_words

        return days_words(value)
    if unit == "ratio":  # 0.87 reads "87 %"
        percent = value * 100
        return format_value(
            "%", float(round(percent)) if abs(percent - round(percent)) < 1e-9 else percent
        )
    if unit == "%":  # 99.5 % is not "100 %": a disk that is not full must not read full
        return f"{value:.0f} %" if value == int(value) else f"{value:.1f} %"
    return number(value)


def format_metric(spec: MetricSpec, value: float | None) -> str:
    """``value`` as :func:`format_value` writes it, a rate with its "/s" ("13 B/s")."""
    shown = format_value(spec.unit, value)
    rate = spec.name.endswith("_per_second") and spec.unit in ("B", "c", "")
    return f"{shown}/s" if rate and value is not None and math.isfinite(value) else shown
