"""Mirror reconciliation and the failover drill against in-process pynetdicom archives: the demo
hospital's archive and its lagging mirror, and hostile nodes (a flood of answers, patient data
that was not asked for, a rejection)."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    StudyRootQueryRetrieveInformationModelFind,
    Verification,
)

from pacs_tui.demo import DemoDicomSite
from pacs_tui.demo.dicom_nodes import drill_study_uid
from pacs_tui.mirror.association import Node
from pacs_tui.mirror.checks import DrillCheck, MirrorCheck
from pacs_tui.mirror.drill import drill
from pacs_tui.mirror.reconcile import (
    KEEP,
    MAX_SPLITS,
    RELEASE_GAP,
    Report,
    Round,
    RoundFailure,
    Study,
    compare,
    reconcile,
    study_of,
)
from pacs_tui.model import Status
from pacs_tui.probes.dr_source import DrConfig
from pacs_tui.probes.dr_source import target as drill_target
from pacs_tui.probes.mirror_source import MirrorConfig
from pacs_tui.probes.mirror_source import target as mirror_target

TODAY = dt.date.today()


@pytest.fixture(scope="module")
def demo() -> Iterator[dict[str, Node]]:
    site = DemoDicomSite(flap_up=600.0, flap_down=600.0, slow_delay=0.0)
    nodes = site.start()
    try:
        yield {n.id: Node(n.id, n.host, n.port, n.aet, "PACSTUI") for n in nodes}
    finally:
        site.stop()


# -- the comparison ---------------------------------------------------------------------------


def test_compare_counts_missing_different_and_extra_and_keeps_the_oldest() -> None:
    report = Report(days=1)
    primary = {
        "1.1": Study("1.1", "20261201", "080000", 3),
        "1.2": Study("1.2", "20261130", "230000", 5),
        "1.3": Study("1.3", "20261201", "090000", 2),
        "1.4": Study("1.4", "20261201", "100000", None),
    }
    mirror = {
        "1.1": Study("1.1", "20261201", "080000", 3),
        "1.3": Study("1.3", "20261201", "090000", 1),
        "1.4": Study("1.4", "20261201", "100000", 7),  # no count on the primary: not compared
        "1.9": Study("1.9", "20261201", "110000", 1),
    }
    compare(report, primary, mirror)
    assert (report.missing_count, report.different_count, report.extra_count) == (1, 1, 1)
    assert report.oldest_missing == primary["1.2"]
    assert [d.primary.uid for d in report.different] == ["1.3"]
    assert [s.uid for s in report.extra] == ["1.9"]
    acquired = primary["1.2"].acquired()
    assert acquired is not None
    assert report.lag(acquired + 7200) == pytest.approx(7200)


def test_the_lists_are_bounded_but_the_counts_are_not() -> None:
    report = Report(days=1)
    primary = {f"1.{n}": Study(f"1.{n}", "20261201", f"{n % 24:02d}0000") for n in range(500)}
    compare(report, primary, {})
    assert report.missing_count == 500
    assert len(report.missing) == KEEP
    assert report.lag(0.0) == 0.0  # acquired "in the future" of that clock: never negative


@pytest.mark.parametrize(
    "row",
    [
        {"StudyInstanceUID": ""},
        {"StudyInstanceUID": None},
        {"StudyInstanceUID": "1.2.x"},
        {"StudyInstanceUID": "1." * 40},
        {"StudyInstanceUID": "1.2\x1b[31m"},
    ],
)
def test_an_answer_without_a_usable_uid_is_not_a_study(row: dict[str, Any]) -> None:
    assert study_of(row) is None


def test_an_answer_with_a_hostile_count_or_date_keeps_the_uid_only() -> None:
    study = study_of(
        {
            "StudyInstanceUID": "1.2.3",
            "StudyDate": "2026\x1b[2J1201",
            "NumberOfStudyRelatedInstances": "9" * 40,
        }
    )
    assert study is not None
    assert study.instances is None
    assert "\x1b" not in study.date
    assert study.acquired() is None


# -- against the demo's archive and its mirror -------------------------------------------------


def test_the_demo_mirror_misses_two_studies_and_has_one_short(demo: dict[str, Node]) -> None:
    report = reconcile(
        demo["archive-main"], demo["archive-mirror"], days=7, today=TODAY, timeout=20,
        query_gap=0.0,
    )  # fmt: skip
    assert report.primary_studies == 6
    assert (report.missing_count, report.different_count, report.extra_count) == (2, 1, 0)
    different = report.different[0]
    assert different.primary.instances is not None and different.mirror.instances is not None
    assert different.primary.instances == different.mirror.instances + 1
    # One association per node for the whole window, one query per node and day.
    assert report.associations == 2
    assert report.queries == 14
    assert report.splits == 0


def test_a_day_with_too_many_studies_is_asked_again_in_halves(demo: dict[str, Node]) -> None:
    whole = reconcile(
        demo["archive-main"], demo["archive-mirror"], days=3, today=TODAY, timeout=20,
        query_gap=0.0,
    )  # fmt: skip
    halved = reconcile(
        demo["archive-main"], demo["archive-mirror"], days=3, today=TODAY, timeout=20,
        query_gap=0.0, max_answers=2,
    )  # fmt: skip
    assert halved.splits > 0
    assert halved.queries > whole.queries
    assert (halved.missing_count, halved.different_count, halved.primary_studies) == (
        whole.missing_count,
        whole.different_count,
        whole.primary_studies,
    )


def test_long_pauses_between_days_are_made_without_holding_the_associations(
    demo: dict[str, Node],
) -> None:
    """query_gap = "auto" on an hourly pair pauses ~10 s a day: an archive would close an idle
    association that long, so each day opens its own (the pauses themselves are recorded)."""
    pauses: list[float] = []
    report = Round(
        demo["archive-main"], demo["archive-mirror"], days=3, today=TODAY, timeout=60,
        request_timeout=10, max_answers=5000, query_gap=RELEASE_GAP, sleep=pauses.append,
    ).run()  # fmt: skip
    assert pauses == [RELEASE_GAP, RELEASE_GAP]
    assert report.associations == 6 and report.queries == 6
    held = Round(
        demo["archive-main"], demo["archive-mirror"], days=3, today=TODAY, timeout=60,
        request_timeout=10, max_answers=5000, query_gap=RELEASE_GAP / 2, sleep=pauses.append,
    ).run()  # fmt: skip
    assert held.associations == 2
    assert (held.missing_count, held.different_count) == (
        report.missing_count,
        report.different_count,
    )


def test_a_rejected_association_names_the_node_and_the_day(demo: dict[str, Node]) -> None:
    mirror = demo["archive-mirror"]
    wrong = Node(mirror.id, mirror.host, mirror.port, "NOT-THE-MIRROR", "PACSTUI")
    with pytest.raises(RoundFailure) as caught:
        reconcile(demo["archive-main"], wrong, days=2, today=TODAY, timeout=10, query_gap=0.0)
    words = str(caught.value)
    assert words.startswith("mirror archive-mirror: association rejected: called AE title")
    assert TODAY.isoformat() in words


async def test_the_mirror_check_says_it_in_words_without_patient_data(
    demo: dict[str, Node],
) -> None:
    entry = MirrorConfig(
        "pair", "archive-main", "archive-mirror", days=7, timeout=30.0, query_gap=0.0,
        rpo=3600.0, primary_node=demo["archive-main"], mirror_node=demo["archive-mirror"],
    )  # fmt: skip
    with ThreadPoolExecutor(2) as pool:
        result = await MirrorCheck(mirror_target(entry), entry, pool).check()
    # The oldest missing demo study was acquired yesterday afternoon: far past an hour's RPO.
    assert result.status is Status.CRIT
    assert result.reason.startswith("2 studies missing on the mirror, the oldest acquired")
    assert "> twice the RPO 60 min" in result.reason
    assert "1 study with other instance counts on the mirror" in result.reason
    assert result.metrics["mirror_missing_studies"] == 2
    assert result.metrics["mirror_lag_seconds"] > 3600
    shown = repr(result)
    assert "DEMO^PATIENT" not in shown and "DEMO00" not in shown  # names, patient IDs


# -- hostile nodes ----------------------------------------------------------------------------


class HostileArchive:
    """A Study Root FIND SCP that answers every query with ``answers`` studies, each carrying
    a patient name nobody asked for."""

    def __init__(self, answers: int) -> None:
        self.answers = answers
        self.queries = 0
        ae = AE(ae_title="HOSTILE")
        ae.add_supported_context(Verification)
        ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
        server = ae.start_server(
            ("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_FIND, self.on_find)]
        )
        assert server is not None
        self.server = server
        self.port = self.server.server_address[1]
        self.lock = threading.Lock()

    def on_find(self, event: Any) -> Iterator[tuple[int, Dataset | None]]:
        with self.lock:
            self.queries += 1
        date = str(event.identifier.get("StudyDate", ""))
        for n in range(self.answers):
            if event.is_cancelled:
                yield 0xFE00, None
                return
            answer = Dataset()
            answer.QueryRetrieveLevel = "STUDY"
            answer.StudyInstanceUID = f"1.2.3.{n}"
            answer.StudyDate = date
            answer.PatientName = "SECRET^PATIENT"
            answer.PatientID = "PID-4242"
            yield 0xFF00, answer

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture
def flood() -> Iterator[HostileArchive]:
    archive = HostileArchive(answers=100_000)
    yield archive
    archive.stop()


def test_a_flood_of_answers_is_cut_and_said_after_the_last_halving(
    demo: dict[str, Node], flood: HostileArchive
) -> None:
    hostile = Node("hostile", "127.0.0.1", flood.port, "HOSTILE", "PACSTUI")
    with pytest.raises(RoundFailure) as caught:
        reconcile(
            demo["archive-main"], hostile, days=1, today=TODAY, timeout=30, max_answers=20,
            query_gap=0.0,
        )  # fmt: skip
    assert "raise max_answers" in str(caught.value)
    assert f"{MAX_SPLITS} times" in str(caught.value)
    # Depth first: the whole day, then one half per level, never the whole tree.
    assert flood.queries == MAX_SPLITS + 1


def test_patient_data_a_node_sends_anyway_is_dropped(demo: dict[str, Node]) -> None:
    archive = HostileArchive(answers=3)
    try:
        hostile = Node("hostile", "127.0.0.1", archive.port, "HOSTILE", "PACSTUI")
        report = reconcile(demo["archive-main"], hostile, days=1, today=TODAY, timeout=20,
                           query_gap=0.0)  # fmt: skip
    finally:
        archive.stop()
    assert report.extra_count == 3
    assert "SECRET" not in repr(report) and "PID-4242" not in repr(report)


# -- the drill --------------------------------------------------------------------------------


def test_the_drill_retrieves_the_test_study_from_the_mirror(demo: dict[str, Node]) -> None:
    outcome = drill(demo["archive-mirror"], drill_study_uid(), timeout=20)
    assert [s.name for s in outcome.steps] == ["echo", "find", "retrieve"]
    assert outcome.ok
    assert outcome.retrieved is not None and outcome.retrieved.instances == 2
    assert outcome.total is not None and outcome.total > 0


def _drill_config(node: Node, study: str, rto: float = 3600.0) -> DrConfig:
    return DrConfig(
        rto=rto, id="drill", mirror=node.id, test_study=study, timeout=20.0,
        request_timeout=5.0, mirror_node=node,
    )  # fmt: skip


async def test_a_drill_in_time_is_ok_and_is_recorded_as_an_event(demo: dict[str, Node]) -> None:
    config = _drill_config(demo["archive-mirror"], drill_study_uid())
    with ThreadPoolExecutor(1) as pool:
        result = await DrillCheck(drill_target(config), config, pool).check()
    assert result.status is Status.OK
    assert result.reason.startswith("drill passed: 2 instances")
    assert result.reason.endswith("≤ RTO 60 min")
    assert result.log_event == result.reason
    assert result.metrics["drill_rto_seconds"] > 0


async def test_a_drill_slower_than_the_rto_is_warn(demo: dict[str, Node]) -> None:
    config = _drill_config(demo["archive-mirror"], drill_study_uid(), rto=1e-6)
    with ThreadPoolExecutor(1) as pool:
        result = await DrillCheck(drill_target(config), config, pool).check()
    assert result.status is Status.CRIT  # far more than twice a microsecond
    assert result.reason.startswith("drill took ")


async def test_a_study_missing_on_the_mirror_fails_the_drill_at_find(
    demo: dict[str, Node],
) -> None:
    config = _drill_config(demo["archive-mirror"], "1.2.3.4.5.6.7")
    with ThreadPoolExecutor(1) as pool:
        result = await DrillCheck(drill_target(config), config, pool).check()
    assert result.status is Status.CRIT
    assert result.reason == "drill failed at find: the test study is not on the mirror"
    assert result.log_event


async def test_a_mirror_that_is_down_fails_the_drill_at_echo() -> None:
    from tests.peers import free_port

    node = Node("gone", "127.0.0.1", free_port(), "GONE", "PACSTUI")
    config = _drill_config(node, drill_study_uid())
    with ThreadPoolExecutor(1) as pool:
        result = await DrillCheck(drill_target(config), config, pool).check()
    assert result.status is Status.DOWN
    assert result.reason.startswith("drill failed at echo: connection refused")


def test_the_service_name_says_which_site_serves() -> None:
    from pacs_tui.mirror.drill import serving_site

    assert serving_site("127.0.0.1", "127.0.0.2", "127.0.0.1") == "mirror"
    assert serving_site("127.0.0.2", "127.0.0.2", "127.0.0.1") == "primary"
    assert serving_site("127.0.0.3", "127.0.0.2", "127.0.0.1").startswith("elsewhere (127.0.0.3")
    assert serving_site("no-such-name.invalid", "127.0.0.2", "127.0.0.1").startswith("unresolved")


def test_nothing_here_blocks_on_an_event_loop() -> None:
    """The checks run their DICOM work in the pool: the loop keeps turning meanwhile."""

    async def main(node: Node) -> int:
        config = _drill_config(node, drill_study_uid())
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        ticker = asyncio.create_task(tick())
        with ThreadPoolExecutor(1) as pool:
            await DrillCheck(drill_target(config), config, pool).check()
        ticker.cancel()
        return ticks

    site = DemoDicomSite(flap_up=600.0, flap_down=600.0, slow_delay=0.3)
    nodes = {n.id: n for n in site.start()}
    try:
        slow = nodes["slow-viewer"]  # answers C-ECHO after 0.3 s, then rejects the FIND
        assert asyncio.run(main(Node(slow.id, slow.host, slow.port, slow.aet, "PACSTUI"))) > 10
    finally:
        site.stop()


def test_a_split_day_is_said_in_the_detail() -> None:
    entry = MirrorConfig("pair", "a", "b", days=2, rpo=3600.0)
    report = Report(days=2, primary_studies=4, mirror_studies=4, split_days=["2026-12-01"])
    with ThreadPoolExecutor(1) as pool:
        result = MirrorCheck(mirror_target(entry), entry, pool).result(report, 0.0)
    assert result.status is Status.OK
    assert result.details["split"] == (
        "2026-12-01: asked in parts of the day (max_answers); studies there without a "
        "StudyTime were not compared"
    )


def _result(primary: dict[str, Study], mirror: dict[str, Study]) -> Any:
    entry = MirrorConfig("pair", "a", "b", days=1, rpo=3600.0)
    report = Report(days=1)
    compare(report, primary, mirror)
    with ThreadPoolExecutor(1) as pool:
        return MirrorCheck(mirror_target(entry), entry, pool).result(report, 0.0)


def test_nodes_that_give_no_instance_counts_have_no_difference_figure() -> None:
    # dcmqrscp answers a study-level C-FIND without NumberOfStudyRelatedInstances: "0 differ"
    # would claim a comparison that never happened.
    both = {f"1.{n}": Study(f"1.{n}", "20261201", "080000") for n in range(3)}
    result = _result(both, dict(both))
    assert "mirror_different_studies" not in result.metrics
    assert result.details["different"] == (
        "not compared: no instance counts for the 3 studies on both "
        "(NumberOfStudyRelatedInstances not given)"
    )
    part = {**both, "1.9": Study("1.9", "20261201", "090000", 4)}
    result = _result(part, {**both, "1.9": Study("1.9", "20261201", "090000", 4)})
    assert result.metrics["mirror_different_studies"] == 0
    assert result.details["compared"].startswith("instance counts of 1 of the 4 studies on both")
