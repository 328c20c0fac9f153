"""The share of an HL7 endpoint's recent messages that failed: over its window only, judged
only once there is enough to judge, named by kind."""

from __future__ import annotations

from collections import Counter

from pacs_tui.hl7.error_share import ErrorShare
from pacs_tui.model import Status

KINDS = ("AE", "AR", "CE", "CR", "framing_errors", "no_ack")


def test_the_share_is_of_the_window_and_forgets_what_is_older() -> None:
    share = ErrorShare(KINDS)
    counts: Counter[str] = Counter()
    assert share(0.0, counts).ratio is None  # nothing yet: no share, nothing judged
    counts.update(received=100, AE=20)
    bad = share(60.0, counts)
    assert (bad.total, bad.failures) == (100, 20)
    assert bad.judge(0.05, 0.25) == (
        Status.WARN,
        "20 of 100 messages failed in the last 5 min (20 % > 5 %: AE 20)",
    )
    # The receiver is mended: the next 100 pass, and once the bad minute is past the window
    # the share is theirs alone.
    for minute in range(2, 8):
        counts.update(received=20)
        later = share(minute * 60.0, counts)
    assert later.failures == 0 and later.total <= 100
    assert later.judge(0.05, 0.25) is None


def test_a_quiet_feed_is_judged_after_three_failures_and_each_kind_is_named() -> None:
    share = ErrorShare(KINDS)
    counts: Counter[str] = Counter()
    share(0.0, counts)
    counts.update(received=2, AR=1, framing_errors=1)
    # 2 failures of 3: too few to judge (one odd message is no trend) ...
    assert share(10.0, counts).judge(0.05, 0.25) is None
    counts.update(received=1, no_ack=1)
    # ... a third is: CRIT over error_crit, each kind named, framing errors among the total.
    assert share(20.0, counts).judge(0.05, 0.25) == (
        Status.CRIT,
        "3 of 4 messages failed in the last 5 min (75 % > 25 %: AR 1, no ACK 1, framing 1)",
    )


def test_zero_percent_warns_of_any_failure_and_a_share_at_the_limit_is_not_over() -> None:
    share = ErrorShare(KINDS)
    counts: Counter[str] = Counter()
    share(0.0, counts)
    counts.update(received=20, AE=1)
    one = share(5.0, counts)
    judged = one.judge(0.0, 1.0)
    assert judged is not None and judged[0] is Status.WARN
    assert one.judge(0.05, 0.25) is None  # 5 % is the limit, not over it
