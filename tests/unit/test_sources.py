"""The Source interface: the registry, open config sections, batch checks, long-running
services with restart and back-off, and each source's own worker limit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence

import pytest
import tomlkit

from pacs_tui.config import Config, ConfigError, parse_config
from pacs_tui.config_init import starter_document
from pacs_tui.config_reader import Reader
from pacs_tui.engine import Engine, EngineUpdate, EventUpdate
from pacs_tui.model import Event, EventKind, Result, Status, Target, TargetKind
from pacs_tui.probes import SOURCES, metric_spec, source_of_kind
from pacs_tui.scheduler import Scheduler, Services
from pacs_tui.source import BatchCheck, Check, Emit, Service, over_threshold, spec_from_name

from .scripted import ScriptedCheck

COMMAND_ONLY = """
[[command]]
id = "db"
command = ["/usr/lib/nagios/plugins/check_dummy", "0", "fine"]
"""


async def until(condition: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_the_registry_declares_each_source_completely() -> None:
    names = [s.name for s in SOURCES]
    assert len(set(names)) == len(names)
    # Sources may share a screen (backups, mirrors and drills): under one title.
    titles = {s.screen: s.screen_title for s in SOURCES}
    assert all(titles[s.screen] == s.screen_title for s in SOURCES)
    for source in SOURCES:
        assert source.title and source.noun and source.entry and source.screen_title
        assert source.kinds and all(source_of_kind(k) is source for k in source.kinds)
        keys = [c.key for c in source.columns]
        assert len(set(keys)) == len(keys)
        assert {"status", "id", "reason"} <= {c.cell for c in source.columns}
        # The config section starts empty and its example is valid on its own.
        assert source.targets(source.read(_reader(), None, "site")) == []
        doc = tomlkit.document()
        for key, item in source.example():
            doc.add(key, item)
        if source.link is not None and not source.example():
            continue  # its entries name another section's (a mirror pair's nodes): README
        config = parse_config(tomlkit.dumps(doc))
        assert source.targets(config.section(source.name))


def _reader() -> Reader:
    return Reader()


def test_config_init_writes_every_registered_sources_example() -> None:
    text = tomlkit.dumps(starter_document())
    for source in SOURCES:
        assert source.entry in text


def test_a_config_with_only_command_checks_is_valid() -> None:
    config = parse_config(COMMAND_ONLY)
    (entry,) = config.section("command")
    assert entry.command == ("/usr/lib/nagios/plugins/check_dummy", "0", "fine")
    assert config.section("dicom").nodes == ()
    engine = Engine(config)
    assert [t.id for t in engine.targets] == ["db"]


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ('"check_tcp -H x"', "command = 'check_tcp -H x': expected the plugin and its arguments"),
        ("[]", "command = an empty list: expected the plugin and its arguments as a list"),
        ('["check_tcp"]', "command[0] = 'check_tcp': expected the plugin's absolute path"),
        ('["/bin/x", 3]', "command[1] = 3: expected a string (write numbers in quotes"),
        ('["/bin/x", "' + "a" * 5000 + '"]', "command[1] = 'aaaa"),
        (
            "[" + ", ".join(['"/bin/x"'] * 300) + "]",
            "command = a list: expected at most 256",
        ),
    ],
)
def test_a_bad_command_is_named_by_its_place(value: str, said: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(f'[[command]]\nid = "x"\ncommand = {value}\n')
    text = str(info.value)
    assert f'command "x" (#1).{said}' in text


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ('{ _JAVA_OPTIONS = "-Xmx64m" }', None),
        ('{ "A=B" = "x" }', "env.A=B = 'x': expected a variable name"),
        ('{ "" = "x" }', "env. = 'x': expected a variable name"),
        ('{ BIG = "' + "v" * 5000 + '" }', "env.BIG = 'vvvv"),
        ("{ N = 5 }", "env.N = 5: expected a string"),
    ],
)
def test_a_bad_environment_is_named_by_its_variable(env: str, said: str | None) -> None:
    text = f'[[command]]\nid = "x"\ncommand = ["/bin/true"]\nenv = {env}\n'
    if said is None:
        (entry,) = parse_config(text).section("command")
        assert entry.env == {"_JAVA_OPTIONS": "-Xmx64m"}
        return
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert f'command "x" (#1).{said}' in str(info.value)


def test_metric_specs_come_from_declarations_or_unit_suffixes() -> None:
    echo = metric_spec("dicom-node", "echo_seconds")
    assert (echo.unit, echo.label, echo.headline, echo.warn) == ("s", "Echo", True, 0.5)
    perf = metric_spec("command", "perf./_bytes")
    assert (perf.unit, perf.label) == ("B", "/")
    assert metric_spec("command", "perf.load1").unit == ""


class Batch:
    """One run reports several targets (like every volume of a host at once)."""

    def __init__(self, results: Mapping[str, Result], delay: float = 0.0) -> None:
        self.id = "batch"
        self.targets: Sequence[Target] = [Target(f"vol{i}", "volume") for i in range(3)]
        self.interval = 10.0
        self.timeout = 0.2
        self.results = results
        self.delay = delay

    async def check_all(self) -> Mapping[str, Result]:
        await asyncio.sleep(self.delay)
        return self.results

    async def close(self) -> None:
        pass


async def test_a_batch_check_reports_each_of_its_targets() -> None:
    batch = Batch({"vol0": Result(Status.OK, "fine"), "vol1": Result(Status.WARN, "85 %")})
    assert isinstance(batch, BatchCheck) and not isinstance(batch, Check)
    engine = Engine(Config(), checks=[batch], first_run_spread=0)
    await engine.run_once()
    states = {s.id: s for s in engine.worst_first()}
    assert states["vol0"].status is Status.OK
    assert states["vol1"].status is Status.WARN and states["vol1"].reason == "85 %"
    assert states["vol2"].status is Status.UNKNOWN
    assert states["vol2"].reason == "not reported by this run"
    assert engine.probe_now("vol2")  # one of a batch: the batch runs


async def test_a_batch_that_times_out_marks_every_target_down() -> None:
    batch = Batch({}, delay=5.0)
    seen: dict[str, Result] = {}
    scheduler = Scheduler([batch], lambda t, r: seen.__setitem__(t.id, r))
    await asyncio.wait_for(scheduler.run_once(), 3)
    assert set(seen) == {"vol0", "vol1", "vol2"}
    assert all(r.status is Status.DOWN and "timed out" in r.reason for r in seen.values())


class Push:
    """A long-running source of the tests' own: pushes a result per target, then dies or
    waits, as told."""

    def __init__(self, *, fail_times: int = 0) -> None:
        self.id = "push"
        self.targets: Sequence[Target] = [Target("feed-a", "hl7-listener")]
        self.fail_times = fail_times
        self.starts = 0
        self.cancelled = False

    async def serve(self, emit: Emit) -> None:
        self.starts += 1
        if self.starts <= self.fail_times:
            raise ConnectionResetError("listener socket closed")
        emit.result("feed-a", Result(Status.OK, f"listening (start {self.starts})"))
        emit.result("someone-else", Result(Status.CRIT, "not mine"))
        emit.event(Event(time.time(), "feed-a", EventKind.PROBE, None, "message received"))
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise

    async def close(self) -> None:
        pass


async def test_a_long_running_source_pushes_results_and_events() -> None:
    push = Push()
    assert isinstance(push, Service)
    engine = Engine(Config(), checks=[push])
    events: list[Event] = []

    def record(update: EngineUpdate) -> None:
        if isinstance(update, EventUpdate):
            events.append(update.event)

    engine.subscribe(record)
    await engine.start()
    try:
        await until(lambda: engine.states["feed-a"].status is Status.OK)
        assert engine.states["feed-a"].reason == "listening (start 1)"
        assert "someone-else" not in engine.states  # a service reports only its own targets
        await until(lambda: any(e.summary == "message received" for e in events))
        assert not engine.probe_now("feed-a")  # pushed, not probed
    finally:
        await engine.stop()
    assert push.cancelled


async def test_a_service_that_dies_is_down_with_the_reason_and_restarted() -> None:
    push = Push(fail_times=2)
    seen: list[Result] = []
    services = Services([push], lambda t, r: seen.append(r), lambda e: None, first_backoff=0.05)
    services.start()
    try:
        await until(lambda: push.starts == 3 and seen and seen[-1].status is Status.OK)
    finally:
        await services.stop()
    downs = [r for r in seen if r.status is Status.DOWN]
    assert len(downs) == 2
    assert downs[0].reason == (
        "failed: ConnectionResetError: listener socket closed; restarting in 0.05 s"
    )
    assert downs[1].reason.endswith("restarting in 0.1 s")  # back-off doubles


async def test_a_listener_whose_port_is_taken_says_so_in_words() -> None:
    """Another program on the port: DOWN "cannot listen: the port is already in use by another
    program", not an OSError's text with a Python tuple in it."""
    import socket

    from pacs_tui.hl7.listener import Listener, ListenerConfig
    from pacs_tui.probes.hl7_source import listener_target

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        entry = ListenerConfig("adt-in", "127.0.0.1", taken.getsockname()[1])
        listener = Listener(entry, listener_target(entry))
        seen: list[Result] = []
        services = Services(
            [listener], lambda t, r: seen.append(r), lambda e: None, first_backoff=0.05
        )
        services.start()
        try:
            await until(lambda: any(r.status is Status.DOWN for r in seen))
        finally:
            await services.stop()
    down = next(r for r in seen if r.status is Status.DOWN)
    assert down.reason == (
        "cannot listen: the port is already in use by another program; restarting in 0.05 s"
    )


async def test_a_slow_plugin_never_holds_a_dicom_worker() -> None:
    """Each source waits for its own pool: a command check stuck for its whole timeout does
    not delay a DICOM check, whose pool has one place."""

    class Slow(ScriptedCheck):
        pool = "command"

    class Dicom(ScriptedCheck):
        pool = "dicom"

    slow = Slow("plugin", delay=2.0, timeout=3.0)
    fast = Dicom("node", delay=0.0)
    seen: dict[str, float] = {}
    started = time.monotonic()

    def record(target: Target, _result: Result) -> None:
        seen.setdefault(target.id, time.monotonic() - started)

    scheduler = Scheduler(
        [slow, fast],
        record,
        first_run_spread=0,
        pools={"dicom": 1, "command": 1},
    )
    scheduler.start()
    try:
        await until(lambda: "node" in seen)
        assert seen["node"] < 0.5 and "plugin" not in seen
    finally:
        await scheduler.stop()


def test_thresholds_come_from_the_declaration_unless_the_target_overrides() -> None:
    echo = metric_spec("dicom-node", "echo_seconds")
    assert over_threshold(echo, 0.4) is None
    assert over_threshold(echo, 0.812) == (Status.WARN, "slow: echo 812 ms > 500 ms")
    assert over_threshold(echo, 0.812, warn=1.0) is None
    assert over_threshold(echo, 2.5, warn=1.0, crit=2.0) == (
        Status.CRIT,
        "slow: echo 2.50 s > 2.00 s",
    )
    assert over_threshold(echo, None) is None


NODE = '[[dicom.node]]\nid = "{}"\naet = "A"\nhost = "127.0.0.1"\nport = 104\n'


def said(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    return [str(p) for p in info.value.problems]


def test_ids_are_unique_across_every_kind_of_entry() -> None:
    text = (
        NODE.format("main")
        + NODE.format("dup")
        + '[[command]]\nid = "dup"\ncommand = ["/bin/true"]\n'
    )
    assert said(text) == [
        "command \"dup\" (#1).id = 'dup': expected an id no other target has (dicom.node "
        '"dup" (#2) has it; ids are unique across every kind of entry)'
    ]


def test_ids_are_unique_across_the_tables_of_one_section() -> None:
    text = (
        '[[hl7.listener]]\nid = "ris"\nbind = "127.0.0.1:2575"\n'
        '[[hl7.link]]\nid = "ris"\nhost = "127.0.0.1"\nport = 2576\n'
    )
    assert said(text) == [
        "hl7.link \"ris\" (#1).id = 'ris': expected an id no other target has (hl7.listener "
        '"ris" (#1) has it; ids are unique across every kind of entry)'
    ]


def test_an_entry_with_another_problem_still_has_its_id_clash_said() -> None:
    text = NODE.format("dup").replace("aet", "ae_title") + '[[logtail]]\nid = "dup"\n'
    problems = said(text)
    assert (
        "logtail \"dup\" (#1).id = 'dup': expected an id no other target has (dicom.node "
        + ('"dup" (#1) has it; ids are unique across every kind of entry)')
        in problems
    )
    assert any(p.startswith('dicom.node "dup" (#1).ae_title') for p in problems)


def test_the_drill_id_is_unique_too() -> None:
    uid = "1.2.826.0.1.3680043.8.498.1"
    text = (
        NODE.format("main")
        + NODE.format("copy")
        + (f'[dr]\nid = "main"\nmirror = "copy"\ntest_study = "{uid}"\n')
    )
    assert said(text) == [
        "dr.id = 'main': expected an id no other target has (dicom.node \"main\" (#1) has it; "
        "ids are unique across every kind of entry)"
    ]


def test_values_read_as_an_admin_reads_them() -> None:
    from pacs_tui.units import format_value

    assert format_value("%", 99.5) == "99.5 %"  # not "100 %": the disk is not full
    assert format_value("%", 85.0) == "85 %"
    assert format_value("B", 483.0 * 2**30) == "483 GiB"
    assert format_value("s", 0.0123) == "12 ms"
    assert format_value("", 1234567.0) == "1,234,567"
    # A rate keeps its "per second" in the value, in history's text as on screen.
    from pacs_tui.units import format_metric

    assert format_metric(metric_spec("host", "network_receive_bytes_per_second"), 13.0) == (
        "13 B/s"
    )
    assert format_metric(metric_spec("host", "disk_read_bytes_per_second"), None) == "—"
    # A label made safe for a metric name shows without its hash.
    assert spec_from_name("perf.quoted_label~0e2d6f4cbaca_seconds").label == "quoted_label"
    assert spec_from_name("perf.quoted_label~0e2d6f4cbaca_seconds").unit == "s"


def test_a_defaulted_timeout_over_the_interval_is_named_as_the_default() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config('[dicom]\ninterval = "5s"\n[[command]]\nid = "x"\ncommand = ["/bin/true"]\n')
    assert [str(p) for p in info.value.problems] == [
        "dicom.timeout (default 5s): expected less than the interval (dicom.interval = 5s); "
        "set timeout"
    ]


def test_a_source_of_several_kinds_counts_each_by_its_name() -> None:
    from pacs_tui.probes.storage_source import SOURCE as STORAGE
    from pacs_tui.source import counted

    kinds = [TargetKind.VOLUME, TargetKind.ARCHIVE, TargetKind.VOLUME]
    assert counted(STORAGE, kinds) == ["2 volumes", "1 archive"]
    assert counted(STORAGE, [TargetKind.ARCHIVE]) == ["1 archive"]
    assert counted(STORAGE, []) == []
    from pacs_tui.probes.hl7_source import SOURCE as HL7

    both = [TargetKind.HL7_LISTENER, TargetKind.HL7_LINK]
    assert counted(HL7, both) == ["2 HL7 endpoints"]  # the screen's word covers both kinds
    assert counted(HL7, both, each=True) == ["1 HL7 listener/tap", "1 HL7 link"]  # config check
