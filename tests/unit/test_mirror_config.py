"""``[[mirror]]`` and ``[dr]`` in the config (their nodes named by id, every mistake said with
key, value and expectation), the drill run only on demand, and only by an admin."""

from __future__ import annotations

import asyncio

import pytest

from pacs_tui.config import Config, SiteConfig, parse_config
from pacs_tui.engine import Engine
from pacs_tui.mirror.checks import DrillCheck
from pacs_tui.model import EventKind, Result, Status, Target, TargetKind
from pacs_tui.operators import NotAllowed, Operator, Role
from pacs_tui.scheduler import Scheduler
from tests.unit.config_problems import problems

NODES = (
    '[[dicom.node]]\nid = "main"\naet = "MAIN"\nhost = "127.0.0.1"\nport = 11112\n'
    '[[dicom.node]]\nid = "copy"\naet = "COPY"\nhost = "127.0.0.2"\nport = 11113\n'
)
PAIR = '[[mirror]]\nid = "pair"\nprimary = "main"\nmirror = "copy"\n'
UID = "1.2.826.0.1.3680043.8.498.1"


def test_a_pair_reads_its_nodes_and_takes_the_rpo_of_dr() -> None:
    config = parse_config(NODES + PAIR + 'window = "7d"\n[dr]\nrpo = "2h"\nrto = "1h"\n')
    (pair,) = config.section("mirror")
    assert (pair.days, pair.interval, pair.timeout, pair.rpo) == (7, 3600.0, 600.0, 7200.0)
    assert pair.primary_node is not None and pair.primary_node.aet == "MAIN"
    assert pair.mirror_node is not None and pair.mirror_node.host == "127.0.0.2"
    # No drill without a mirror and a test study: [dr] only holds the targets then.
    assert config.section("dr").has_drill is False
    assert [t.id for t in _targets(config)] == ["main", "copy", "pair"]


def _targets(config: Config) -> list[Target]:
    from pacs_tui.probes import SOURCES

    return [t for s in SOURCES for t in s.targets(config.section(s.name))]


def test_query_gap_auto_spreads_the_days_over_half_the_timeout() -> None:
    (pair,) = parse_config(NODES + PAIR + 'query_gap = "auto"\n').section("mirror")
    # An hourly pair: a 10 min timeout, 30 days, so 29 pauses share 5 minutes.
    assert pair.query_gap is None and pair.gap() == pytest.approx(300 / 29)
    (short,) = parse_config(NODES + PAIR + 'query_gap = "auto"\ninterval = "5m"\n').section(
        "mirror"
    )
    assert short.gap() == pytest.approx(75 / 29)  # timeout: half of 5 min
    (long,) = parse_config(
        NODES + PAIR + 'query_gap = "auto"\nwindow = "2d"\ntimeout = "1h"\ninterval = "1d"\n'
    ).section("mirror")
    assert long.gap() == 60.0  # never more than a minute
    # A fixed gap stays as given unless the round could not fit its queries.
    (fixed,) = parse_config(NODES + PAIR + 'query_gap = "30s"\n').section("mirror")
    assert fixed.gap() == pytest.approx(300 / 29)
    found = problems(NODES + PAIR + 'query_gap = "often"\n')
    assert found == [
        "mirror \"pair\" (#1).query_gap = 'often': expected a duration from 0s to 1m, like '500ms' "
        '(the pause between two days\' queries), or "auto" (the days spread over half the '
        "timeout)"
    ]


def test_a_pair_without_dr_has_an_hour_of_rpo_and_its_own_wins() -> None:
    (pair,) = parse_config(NODES + PAIR).section("mirror")
    assert pair.rpo == 3600.0
    (pair,) = parse_config(NODES + PAIR + 'rpo = "15m"\n[dr]\nrpo = "2h"\n').section("mirror")
    assert pair.rpo == 900.0


def test_a_pair_naming_an_unknown_node_says_which_exist() -> None:
    found = problems(NODES + '[[mirror]]\nid = "pair"\nprimary = "main"\nmirror = "mirorr"\n')
    assert found == [
        "mirror \"pair\".mirror = 'mirorr': expected the id of a [[dicom.node]] (copy, main)"
    ]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ('window = "36h"', "window = '36h': expected a whole number of days"),
        ('window = "400d"', "window = '400d': expected a whole number of days"),
        ("max_answers = 5", "max_answers = 5: expected a whole number from 10 to 100000"),
        ('interval = "10m"\ntimeout = "10m"', "timeout = '10m': expected less than the interval"),
        ('query_gap = "5m"', "query_gap = '5m': expected a duration from 0s to 1m"),
        ('primary = "copy"', "mirror = 'copy': expected a node other than the primary"),
    ],
)
def test_a_bad_pair_is_said(extra: str, expected: str) -> None:
    text = NODES + PAIR.replace('primary = "main"\n', "") + extra + "\n"
    if "primary" not in extra:
        text += 'primary = "main"\n'
    found = problems(text)
    assert len(found) == 1 and expected in found[0], found


def test_a_drill_reads_its_mirror_and_study() -> None:
    config = parse_config(
        NODES + f'[dr]\nrto = "30m"\nmirror = "copy"\ntest_study = "{UID}"\nprimary = "main"\n'
        'service_name = "pacs.example.org"\n'
    )
    dr = config.section("dr")
    assert dr.has_drill and dr.drill_interval is None  # on demand
    assert dr.mirror_node is not None and dr.mirror_node.port == 11113
    assert dr.primary_node is not None and dr.primary_node.host == "127.0.0.1"
    (drill,) = [t for t in _targets(config) if t.kind == TargetKind.DRILL]
    assert (drill.id, drill.label("schedule"), drill.label("rto")) == (
        "dr-drill",
        "on demand",
        "30 min",
    )


def test_a_drill_by_c_move_reads_where_it_listens_and_whom_it_lets_in() -> None:
    config = parse_config(
        NODES + f'[dr]\nmirror = "copy"\ntest_study = "{UID}"\nretrieve = "move"\n'
        'move_bind = "0.0.0.0:11113"\nmove_from = ["10.2.0.0/24"]\n'
    )
    dr = config.section("dr")
    assert (dr.retrieve, dr.move_bind, dr.move_aet) == ("move", ("0.0.0.0", 11113), "")
    assert [str(n) for n in dr.move_from] == ["10.2.0.0/24"]
    named = parse_config(
        NODES + f'[dr]\nmirror = "copy"\ntest_study = "{UID}"\nretrieve = "move"\n'
        'move_bind = 11113\nmove_aet = "PACSTUI_DR"\n'
    ).section("dr")
    assert (named.move_bind, named.move_aet) == (("127.0.0.1", 11113), "PACSTUI_DR")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('mirror = "copy"', "dr.test_study: missing; expected the test study's StudyInstanceUID"),
        (
            f'test_study = "{UID}"',
            "dr.mirror: missing; expected the id of a [[dicom.node]] (a drill needs mirror and",
        ),
        (
            f'mirror = "copy"\ntest_study = "{UID}.x"',
            f"dr.test_study = '{UID}.x': expected the test study's StudyInstanceUID",
        ),
        (
            f'mirror = "nope"\ntest_study = "{UID}"',
            "dr.mirror = 'nope': expected the id of a [[dicom.node]] (copy, main)",
        ),
        (
            f'mirror = "copy"\ntest_study = "{UID}"\ndrill_interval = "30m"',
            "dr.drill_interval = '30m': expected a duration from 1h to 400d",
        ),
        (
            f'mirror = "copy"\ntest_study = "{UID}"\nservice_name = "pacs.example.org"',
            "dr.primary: missing; expected the id of a [[dicom.node]] (service_name is compared",
        ),
        (
            'primary = "main"',
            "dr.mirror: missing; expected the id of a [[dicom.node]] (primary belongs to the drill",
        ),
        (
            f'mirror = "copy"\ntest_study = "{UID}"\nretrieve = "move"',
            "dr.move_bind: missing; expected the IP address and port to listen on for the C-MOVE",
        ),
        (
            f'mirror = "copy"\ntest_study = "{UID}"\nmove_bind = "0.0.0.0:11113"',
            "dr.move_bind = '0.0.0.0:11113': expected nothing with retrieve = \"get\" (the "
            'default): set retrieve = "move"',
        ),
        (
            f'mirror = "copy"\ntest_study = "{UID}"\nretrieve = "c-move"',
            "dr.retrieve = 'c-move': expected \"get\" (C-GET: the mirror sends the study back",
        ),
        (
            f'mirror = "copy"\ntest_study = "{UID}"\nretrieve = "move"\n'
            'move_bind = "pacs-tui.example.org:11113"',
            "dr.move_bind = 'pacs-tui.example.org:11113': expected the IP address and port",
        ),
        (
            f'mirror = "copy"\ntest_study = "{UID}"\nretrieve = "move"\nmove_bind = 11113\n'
            'move_from = ["10.2.0.0/33"]',
            "dr.move_from = a list: expected a list of addresses or networks the mirror sends from",
        ),
        ('rto = "forever"', "dr.rto = 'forever': expected a duration from 1s to 30d"),
        ("password = 'x'", "dr.password = '(hidden)': no such key"),
    ],
)
def test_a_bad_dr_table_is_said(text: str, expected: str) -> None:
    found = problems(NODES + "[dr]\n" + text + "\n")
    assert len(found) == 1 and found[0].startswith(expected), found


# -- the drill runs on demand, by an admin ------------------------------------------------------


class CountingDrill:
    """A drill check whose runs are counted (the real one needs a mirror)."""

    on_demand = True
    interval = 400 * 86400.0
    timeout = 5.0
    pool = ""

    def __init__(self) -> None:
        self.target = Target("drill", TargetKind.DRILL, {"kind": "drill"})
        self.runs = 0

    async def check(self) -> Result:
        self.runs += 1
        return Result(Status.OK, "drill passed", {"drill_rto_seconds": 0.5}, log_event="passed")

    async def close(self) -> None:
        return None


async def test_an_on_demand_check_waits_for_probe_now_and_run_once_skips_it() -> None:
    drill = CountingDrill()
    seen: list[Result] = []
    scheduler = Scheduler([drill], lambda _t, r: seen.append(r), first_run_spread=0.0)
    assert await scheduler.run_once() == {}
    scheduler.start()
    try:
        await asyncio.sleep(0.2)
        assert drill.runs == 0
        assert scheduler.trigger("drill")
        for _ in range(200):
            if seen:
                break
            await asyncio.sleep(0.01)
        assert drill.runs == 1
        await asyncio.sleep(0.1)
        assert drill.runs == 1  # and not again on its own
    finally:
        await scheduler.stop()


async def test_only_an_admin_runs_a_drill_and_each_drill_is_an_event() -> None:
    drill = CountingDrill()
    engine = Engine(Config(site=SiteConfig(name="s")), checks=[drill], first_run_spread=0.0)
    events = []
    await engine.start()
    try:
        engine.subscribe(lambda update: events.append(update))
        technician = Operator("tech", 1001, Role.TECHNICIAN)
        with pytest.raises(NotAllowed, match="run a drill"):
            engine.probe_now("drill", technician)
        assert engine.probe_all(Operator("admin", 0, Role.ADMIN)) == 0  # not the drill
        assert engine.probe_now("drill", Operator("admin", 0, Role.ADMIN))
        for _ in range(200):
            if drill.runs:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
    finally:
        await engine.stop()
    recorded = [u.event for u in events if hasattr(u, "event")]
    kinds = [(e.kind, e.summary) for e in recorded]
    assert (EventKind.PROBE, "passed") in kinds
    assert any(
        e.kind == EventKind.OPERATOR and e.summary.startswith("drill requested") for e in recorded
    )


def test_the_real_drill_check_is_on_demand_unless_scheduled() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from pacs_tui.probes.dr_source import target

    config = parse_config(NODES + f'[dr]\nmirror = "copy"\ntest_study = "{UID}"\n').section("dr")
    with ThreadPoolExecutor(1) as pool:
        assert DrillCheck(target(config), config, pool).on_demand
    scheduled = parse_config(
        NODES + f'[dr]\nmirror = "copy"\ntest_study = "{UID}"\ndrill_interval = "7d"\n'
    ).section("dr")
    with ThreadPoolExecutor(1) as pool:
        check = DrillCheck(target(scheduled), scheduled, pool)
        assert not check.on_demand and check.interval == 7 * 86400


def test_a_uid_with_a_leading_zero_and_a_mistyped_node_are_said() -> None:
    found = problems(NODES + '[dr]\nmirror = "copy"\ntest_study = "1.02.3"\n')
    assert found == [
        "dr.test_study = '1.02.3': expected the test study's StudyInstanceUID (numbers without "
        "leading zeros joined by dots, at most 64 characters)"
    ]
    found = problems(NODES + '[[mirror]]\nid = "pair"\nprimary = "main"\nmirror = "cpy"\n')
    assert found == [
        "mirror \"pair\".mirror = 'cpy': expected the id of a [[dicom.node]]; did you mean "
        "'copy'? (copy, main)"
    ]


def test_dr_primary_names_the_node_the_drill_asks_for_the_count() -> None:
    dr = parse_config(
        NODES + f'[dr]\nmirror = "copy"\ntest_study = "{UID}"\nprimary = "main"\n'
    ).section("dr")
    assert dr.primary_node is not None and dr.primary_node.aet == "MAIN"


async def test_a_drill_shows_its_last_run_after_a_restart() -> None:
    drill = CountingDrill()
    engine = Engine(Config(site=SiteConfig(name="s")), checks=[drill], first_run_spread=0.0)
    assert engine.states["drill"].reason.startswith("no drill run yet")
    engine.remember(
        {"drill": (Status.CRIT, "OK → CRIT: drill failed at find: not on the mirror", 1000.0)}
    )
    state = engine.states["drill"]
    assert (state.status, state.reason, state.since) == (
        Status.CRIT,
        "drill failed at find: not on the mirror",
        1000.0,
    )
    assert drill.runs == 0  # shown, not run
