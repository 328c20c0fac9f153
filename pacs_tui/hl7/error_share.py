"""The share of an HL7 listener's or tap's recent messages that failed (AE, AR, CE, CR, no ACK,
framing errors), judged against the endpoint's ``error_warn``/``error_crit``: a feed whose
receiver rejects every order is not "✔ OK" because its port is open."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from pacs_tui.model import Status
from pacs_tui.units import format_value

#: The window the share is taken over (seconds): long enough for a feed of a message a minute
#: to say something, short enough that a mended receiver turns OK within minutes.
WINDOW = 300.0
#: A share is judged once the window holds this many messages, or this many failures (three
#: rejected orders in five minutes are worth a word however quiet the feed).
JUDGED_MESSAGES = 10
JUDGED_FAILURES = 3
#: A mark is kept at most this often (a tap reports at once when an answer is overdue: a
#: stalled receiver must not fill the window with marks).
MARK_EVERY = 5.0
DEFAULT_WARN = 0.05
DEFAULT_CRIT = 0.25
#: How the failures are named in the reason, in this order.
NAMES = {
    "AE": "AE",
    "AR": "AR",
    "CE": "CE",
    "CR": "CR",
    "no_ack": "no ACK",
    "framing_errors": "framing",
}


@dataclass(frozen=True, slots=True)
class Share:
    """The last window's messages (``total``, framing errors included) and failures by kind."""

    total: int
    failed: Mapping[str, int]

    @property
    def failures(self) -> int:
        return sum(self.failed.values())

    @property
    def ratio(self) -> float | None:
        return self.failures / self.total if self.total else None

    def judge(self, warn: float, crit: float) -> tuple[Status, str] | None:
        """WARN or CRIT with the reason in words when the share is over a limit (and there is
        enough to judge); None when it is not."""
        ratio, failures = self.ratio, self.failures
        if ratio is None or (self.total < JUDGED_MESSAGES and failures < JUDGED_FAILURES):
            return None
        for status, limit in ((Status.CRIT, crit), (Status.WARN, warn)):
            if ratio > limit:
                kinds = ", ".join(
                    f"{NAMES[k]} {n:,}" for k in NAMES if (n := self.failed.get(k, 0))
                )
                return status, (
                    f"{failures:,} of {self.total:,} messages failed in the last "
                    f"{WINDOW / 60:.0f} min ({format_value('ratio', ratio)} > "
                    f"{format_value('ratio', limit)}: {kinds})"
                )
        return None


class ErrorShare:
    """Called with the running counts now and then, gives the :class:`Share` of the last
    :data:`WINDOW` (in the first window, of what came so far)."""

    def __init__(self, failures: tuple[str, ...]) -> None:
        self._kinds = failures
        self._marks: deque[tuple[float, int, tuple[int, ...]]] = deque()

    def __call__(self, now: float, counts: Mapping[str, int]) -> Share:
        total = counts.get("received", 0) + counts.get("framing_errors", 0)
        failed = tuple(counts.get(k, 0) for k in self._kinds)
        marks = self._marks
        if not marks or now - marks[-1][0] >= MARK_EVERY:
            marks.append((now, total, failed))
        while len(marks) > 2 and now - marks[1][0] >= WINDOW:
            marks.popleft()
        _, total_then, failed_then = marks[0]
        return Share(
            total - total_then,
            {k: n - then for k, n, then in zip(self._kinds, failed, failed_then, strict=True)},
        )
