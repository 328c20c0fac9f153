"""Config validation: every problem reported at once, by key path, value and expectation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import tomlkit

from pacs_tui.config import (
    ConfigError,
    ConfigNotFound,
    find_config,
    parse_config,
    search_paths,
)
from pacs_tui.config_init import starter_document, write_starter
from tests.unit.config_problems import problems

GOOD = """
[site]
name = "St Example"
timezone = "Europe/Paris"

[dicom]
calling_aet = "SUPERVISOR"
interval = "1m"
timeout = "3s"

[[dicom.node]]
id = "archive-main"
aet = "ARCHIVE"
host = "10.1.2.3"
port = 104
role = "archive"

[[dicom.node]]
id = "ct-1"
aet = "CT01"
host = "ct1.example"
port = 11112
role = "modality"
interval = "10s"
warn_latency = "250ms"
"""


def test_good_config_parses_with_defaults_and_overrides() -> None:
    config = parse_config(GOOD)
    assert config.site.name == "St Example"
    archive, ct = config.section("dicom").nodes
    assert archive.interval == 60.0 and archive.timeout == 3.0
    assert archive.calling_aet == "SUPERVISOR"
    assert archive.site == "St Example"
    assert ct.interval == 10.0 and ct.warn_latency == 0.25
    assert ct.port == 11112


def test_every_problem_is_reported_at_once_with_key_value_and_expectation() -> None:
    found = problems(
        """
[site]
colour = "blue"
[dicom]
interval = "5x"
[[dicom.node]]
id = "a"
aet = "THIS_AE_TITLE_IS_TOO_LONG"
host = "h"
port = 70000
[[dicom.node]]
id = "b"
aet = "B"
host = "h"
port = 104
role = "boss"
"""
    )
    assert len(found) == 5
    joined = "\n".join(found)
    assert "site.colour = 'blue': no such key" in joined
    assert "dicom.interval = '5x': expected a duration from 1s to 1d" in joined
    assert "dicom.node \"a\" (#1).aet = 'THIS_AE_TITLE_IS_TOO_LONG'" in joined
    assert 'dicom.node "a" (#1).port = 70000: expected a TCP port from 1 to 65535' in joined
    assert "dicom.node \"b\" (#2).role = 'boss': expected one of archive" in joined


def test_missing_required_keys_are_named() -> None:
    found = problems("[[dicom.node]]\nid = 'x'\n")
    assert 'dicom.node "x" (#1).aet: missing; expected an AE title' in found[0]
    assert any(p.startswith('dicom.node "x" (#1).host: missing') for p in found)
    assert any(p.startswith('dicom.node "x" (#1).port: missing') for p in found)


def test_a_mistyped_ip_address_is_no_host_name() -> None:
    # 256.1.1.1 reads as a host name to a resolver, and would be DOWN "host not found".
    found = problems("[[dicom.node]]\nid='a'\naet='A'\nhost='256.1.1.1'\nport=104\n")
    assert found == ["dicom.node \"a\" (#1).host = '256.1.1.1': expected a host name or IP address"]


def test_duplicate_ids_and_timeout_not_below_interval() -> None:
    node = "[[dicom.node]]\nid='a'\naet='A'\nhost='h'\nport=104\n"
    found = problems(node + node + "timeout='1m'\ninterval='30s'\n")
    assert (
        'dicom.node "a" (#2).id = \'a\': expected a unique id (dicom.node "a" (#1) has it)' in found
    )
    assert (
        "dicom.node \"a\" (#2).timeout = '1m': expected less than the interval "
        '(dicom.node "a" (#2).interval = 30s)' in found
    )
    found = problems(node + node)
    assert found == [
        'dicom.node "a" (#2).id = \'a\': expected a unique id (dicom.node "a" (#1) has it)'
    ]


def test_cross_checks_are_reported_with_other_errors_and_name_inherited_keys() -> None:
    found = problems(
        "[dicom]\ntimeout = '5s'\n[[dicom.node]]\nid='a'\naet='A'\nhost='h'\nport=0\n"
        "interval = '2s'\n"
        "[[dicom.node]]\nid='a'\naet='B'\nhost='bad host!'\nport=104\nwarn_latency='1m30s'\n"
    )
    assert 'dicom.node "a" (#1).port = 0: expected a TCP port from 1 to 65535' in found
    assert any(
        p.startswith('dicom.timeout (inherited by dicom.node "a" (#1)) = 5.0: expected less than')
        for p in found
    )
    assert (
        'dicom.node "a" (#2).id = \'a\': expected a unique id (dicom.node "a" (#1) has it)' in found
    )
    assert "dicom.node \"a\" (#2).host = 'bad host!': expected a host name or IP address" in found
    assert any(p.startswith("dicom.node \"a\" (#2).warn_latency = '1m30s'") for p in found)


@pytest.mark.parametrize(
    ("key", "value"),
    [("interval", "nan"), ("interval", "1e400"), ("timeout", "1e-9"), ("interval", "'0s'")],
)
def test_nonsense_durations_are_rejected(key: str, value: str) -> None:
    node = "[[dicom.node]]\nid='a'\naet='A'\nhost='h'\nport=104\n"
    found = problems(node + f"{key} = {value}\n")
    assert any(p.startswith(f'dicom.node "a" (#1).{key} = ') for p in found)


@pytest.mark.parametrize("text", ["", "[dicom]\nnode = []\n", "command = []\n"])
def test_a_config_with_nothing_to_watch_is_an_error(text: str) -> None:
    assert problems(text) == [
        "(nothing to watch): expected at least one [[dicom.node]], [[command]], [[hl7.listener]], "
        "[[hl7.link]], [[storage.volume]], [[host]], [[logtail]], [[audit.syslog]], "
        "[[backup.restic]], [[backup.borg]], [[backup.dumps]], [[backup.command]], [[mirror]] "
        "or [dr]"
    ]


def test_unknown_and_future_tables() -> None:
    found = problems("[alerts]\n[frobnicate]\n[[dicom.node]]\nid='a'\naet='A'\nhost='h'\nport=1\n")
    assert "does not support yet" in found[0]
    assert found[1].startswith("frobnicate = a table: no such table")


def test_wrong_types_are_errors_not_crashes() -> None:
    found = problems("site = 3\n[dicom]\nmax_workers = true\nnode = 'x'\n")
    assert "site = 3: expected a table" in found
    assert any(p.startswith("dicom.max_workers = True") for p in found)
    assert any(p.startswith("dicom.node = 'x': expected an array of tables") for p in found)


def test_toml_syntax_error_is_one_clear_problem() -> None:
    found = problems("[site\nname = 1")
    assert len(found) == 1 and "valid TOML" in found[0]


def test_relative_history_path_is_relative_to_the_config(tmp_path: Path) -> None:
    node = "[[dicom.node]]\nid='a'\naet='A'\nhost='h'\nport=104\n"
    text = "[history]\npath = 'h/history.sqlite'\n" + node
    config = parse_config(text, source=tmp_path / "c.toml")
    assert config.history.path == tmp_path / "h" / "history.sqlite"


def test_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    env_file = tmp_path / "env.toml"
    monkeypatch.setenv("PACS_TUI_CONFIG", str(env_file))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    paths = search_paths()
    assert paths[0] == env_file
    assert paths[1] == tmp_path / "pacs-tui.toml"
    assert paths[-1] == Path("/etc/pacs-tui/config.toml")
    (tmp_path / "pacs-tui.toml").write_text("")
    with pytest.raises(ConfigNotFound) as missing:  # set on purpose: a typo is an error
        find_config()
    assert missing.value.explicit == env_file and missing.value.via == "$PACS_TUI_CONFIG"
    env_file.write_text("")
    assert find_config() == env_file
    monkeypatch.delenv("PACS_TUI_CONFIG")
    assert find_config() == tmp_path / "pacs-tui.toml"
    with pytest.raises(ConfigNotFound) as info:
        find_config(tmp_path / "nope.toml")
    assert info.value.searched == [tmp_path / "nope.toml"]


def test_starter_config_is_valid_commented_and_private(tmp_path: Path) -> None:
    path = write_starter(tmp_path / "sub" / "config.toml")
    text = path.read_text()
    assert "# " in text and "[[dicom.node]]" in text
    assert parse_config(text).section("dicom").nodes[0].id == "archive-main"
    assert path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(FileExistsError):
        write_starter(path)
    doc = starter_document()
    assert tomlkit.dumps(doc) == text


def test_starter_config_comments_uncomment_into_valid_config(tmp_path: Path) -> None:
    text = tomlkit.dumps(starter_document())
    uncommented = "\n".join(
        line[2:] if line.startswith("# ") and "=" in line and "path" not in line else line
        for line in text.splitlines()
    )
    config = parse_config(uncommented)
    node = config.section("dicom").nodes[0]
    assert node.site == "main" and node.warn_latency == 1.0
    (command,) = config.section("command")
    assert command.site == "main" and command.env == {"PGCONNECT_TIMEOUT": "5"}
    (listener,) = config.section("hl7").listeners
    assert (listener.host, listener.port, listener.max_connections) == ("127.0.0.1", 2575, 64)
    assert config.socket_path == Path("/run/pacs-tui/collector.sock")
    assert config.collector.group == "pacsadmins"


def test_the_collectors_socket_defaults_to_beside_the_history(tmp_path: Path) -> None:
    config = parse_config(f'[history]\npath = "{tmp_path}/h.sqlite"\n{NODE.format("a")}')
    assert config.socket_path == tmp_path / "h.collector.sock"
    # Two histories in one folder: a socket each, so a viewer finds the right collector.
    other = parse_config(f'[history]\npath = "{tmp_path}/other.sqlite"\n{NODE.format("a")}')
    assert other.socket_path == tmp_path / "other.collector.sock"
    found = problems('[collector]\nsockett = "/run/x.sock"\ngroup = 5\n' + NODE.format("a"))
    assert found == [
        "collector.sockett = '/run/x.sock': no such key; did you mean 'socket'? "
        "(known here: group, socket)",
        "collector.group = 5: expected a group name",
    ]


def test_a_wholly_inherited_conflict_is_reported_once_at_its_source() -> None:
    node = "[[dicom.node]]\nid='{}'\naet='A'\nhost='h'\nport=104\n"
    found = problems(
        "[dicom]\ntimeout='1s'\nwarn_latency='2s'\n" + node.format("a") + node.format("b")
    )
    assert found == [
        "dicom.warn_latency = '2s': expected less than the timeout (dicom.timeout = 1s)"
    ]


NODE = "[[dicom.node]]\nid='{}'\naet='A'\nhost='h'\nport=104\n"


def test_a_node_is_named_by_its_id_and_its_place() -> None:
    found = problems(NODE.format("archive-main") + "role='boss'\n" + "[[dicom.node]]\nport=0\n")
    assert "dicom.node \"archive-main\" (#1).role = 'boss': expected one of archive" in found[0]
    # No id (or an invalid one) to name it by: its place in the file alone.
    assert "dicom.node (#2).id: missing; expected an id" in found[1]
    assert "dicom.node (#2).port = 0: expected a TCP port" in found[-1]
    found = problems(NODE.format("bad id!"))
    assert found[0].startswith("dicom.node (#1).id = 'bad id!'")
    found = problems("[dicom]\nnode = [3]\n")
    assert "dicom.node (#1) = 3: expected a table" in found


def test_an_unknown_key_suggests_the_closest_known_one() -> None:
    found = problems("[dicom]\nwarn_latncy = '1s'\n[dicm]\n[site]\nzzz = 1\n" + NODE.format("a"))
    assert (
        "dicm = a table: no such table; did you mean 'dicom'? "
        "(known: audit, backup, collector, command, dicom, dr, exporters, history, hl7, host, "
        "logtail, mirror, operators, site, storage)" in found
    )
    assert any(
        p.startswith("dicom.warn_latncy = '1s': no such key; did you mean 'warn_latency'?")
        for p in found
    )
    assert "site.zzz = 1: no such key (known here: name, timezone)" in found
    found = problems(NODE.format("a") + "prot = 11112\n")
    assert any("(#1).prot = 11112: no such key; did you mean 'port'?" in p for p in found)


def test_a_quoted_number_is_said_to_be_a_string() -> None:
    found = problems("[dicom]\nmax_workers = '8'\n[[dicom.node]]\nid='a'\naet='A'\nhost='h'\n")
    assert found == [
        "dicom.max_workers = '8': expected a whole number from 1 to 64; a number, not a "
        "string (write max_workers = 8, without quotes)",
        'dicom.node "a" (#1).port: missing; expected a TCP port from 1 to 65535',
    ]
    found = problems(NODE.format("a").replace("port=104", "port = ' 104'"))
    assert found == [
        "dicom.node \"a\" (#1).port = ' 104': expected a TCP port from 1 to 65535; a number, "
        "not a string (write port = 104, without quotes)"
    ]
    found = problems(NODE.format("a").replace("port=104", "port = 'dicom'"))
    assert found == ["dicom.node \"a\" (#1).port = 'dicom': expected a TCP port from 1 to 65535"]


def test_a_syntax_error_shows_the_line_and_a_caret() -> None:
    found = problems("[site]\nname = 'x'\n[[dicom.node]]\nport = 10 4\n")
    assert found == [
        "(syntax) line 4, column 11: expected valid TOML: Expected newline or end of document "
        "after a statement\n"
        "      4 | port = 10 4\n"
        "        |           ^"
    ]


def test_a_syntax_error_line_is_made_visible_and_the_caret_counts_cells() -> None:
    found = problems("a = 1\n\n\n\n\n\n\n\n\nname = '\u202e漢字' x\r\n")
    first, line, caret = found[0].split("\n")
    assert first.startswith("(syntax) line 10, column 14: expected valid TOML")
    assert line == "      10 | name = '\\u202e漢字' x"
    # Under the x: the made-visible override is 6 cells, 漢字 are 4.
    assert caret == "         | " + " " * (8 + 6 + 4 + 2) + "^"
    assert "\u202e" not in found[0]
    found = problems("name = '\x1b[2J'\n")
    assert found[0].split("\n")[1] == "      1 | name = '␛[2J'"


def test_a_syntax_error_at_the_end_points_after_the_last_line() -> None:
    found = problems("a = 1\nb = [1,\n\n")
    assert found == [
        "(syntax) at the end of the file, after line 2: expected valid TOML: Invalid value\n"
        "      2 | b = [1,\n"
        "        |        ^"
    ]


def test_a_very_long_syntax_error_line_is_cut_around_the_caret() -> None:
    found = problems("a = '" + "x" * 500 + "' y\n")
    line, caret = found[0].split("\n")[1:]
    assert len(line) < 140 and line.index("y") == caret.index("^")


# -- config check: the history's path, read only ---------------------------------------------


def check_paths(history: str, tmp_path: Path) -> list[str]:
    text = f"[history]\npath = '{history}'\n" + NODE.format("a")
    with pytest.raises(ConfigError) as info:
        parse_config(text, source=tmp_path / "c.toml", check_paths=True)
    return [str(p) for p in info.value.problems]


def test_a_history_path_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    assert check_paths("state", tmp_path) == [
        f"history.path = 'state': expected the path of a file, not a directory "
        f"(like {tmp_path / 'state' / 'history.sqlite'})"
    ]


def test_a_history_path_under_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    assert check_paths(f"{tmp_path}/afile/sub/h.sqlite", tmp_path) == [
        f"history.path = '{tmp_path}/afile/sub/h.sqlite': expected a path whose folders can be "
        f"created ({tmp_path / 'afile'} is a regular file)"
    ]


@pytest.mark.parametrize("where", ["/proc/h.sqlite", "/sys/x/h", "/dev/shm/h.sqlite", "/dev"])
def test_a_history_path_on_a_kernel_file_system_is_refused(tmp_path: Path, where: str) -> None:
    found = check_paths(where, tmp_path)
    assert found == [
        f"history.path = '{where}': expected a path outside /proc, /sys and /dev "
        f"(under /{where.split('/')[1]}, a kernel file system)"
    ]


def test_a_history_path_through_a_link_into_proc_is_refused(tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to("/proc/self")
    found = check_paths("link/h.sqlite", tmp_path)
    assert len(found) == 1 and "under /proc, a kernel file system" in found[0]


def test_a_history_path_that_is_a_fifo_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "h")
    assert check_paths("h", tmp_path) == [
        "history.path = 'h': expected a regular file or a path where one can be created, not a FIFO"
    ]


def test_a_good_history_path_passes_and_nothing_is_created(tmp_path: Path) -> None:
    before = sorted(tmp_path.rglob("*"))
    text = "[history]\npath = 'new/dir/history.sqlite'\n" + NODE.format("a")
    config = parse_config(text, source=tmp_path / "c.toml", check_paths=True)
    assert config.history.path == tmp_path / "new" / "dir" / "history.sqlite"
    assert sorted(tmp_path.rglob("*")) == before
    (tmp_path / "existing.sqlite").write_bytes(b"")
    parse_config(
        "[history]\npath = 'existing.sqlite'\n" + NODE.format("a"),
        source=tmp_path / "c.toml",
        check_paths=True,
    )


def test_the_history_path_is_checked_only_when_asked_and_with_the_other_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "state").mkdir()
    text = "[history]\npath = 'state'\n" + NODE.format("a")
    assert parse_config(text, source=tmp_path / "c.toml").history.path == tmp_path / "state"
    found = check_paths("state", tmp_path) + problems("[site]\nnmae = 1\n")
    assert len(found) == 3
    # The default path is checked too, named as the default.
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "afile"))
    (tmp_path / "afile").write_text("")
    with pytest.raises(ConfigError) as info:
        parse_config(NODE.format("a"), check_paths=True)
    assert [str(p) for p in info.value.problems] == [
        f"history.path (default) = '{tmp_path}/afile/pacs-tui/history.sqlite': expected a path "
        f"whose folders can be created ({tmp_path / 'afile'} is a regular file)"
    ]


def test_the_prometheus_exporter_binds_to_an_address_and_a_port() -> None:
    assert parse_config(NODE.format("a")).exporters.prometheus is None
    for bind, found in (
        ("127.0.0.1:9464", ("127.0.0.1", 9464)),
        ("[::1]:9464", ("::1", 9464)),
        ("9464", ("127.0.0.1", 9464)),
        (9464, ("127.0.0.1", 9464)),
        ("0.0.0.0:9464", ("0.0.0.0", 9464)),
    ):
        text = f"[exporters.prometheus]\nbind = {bind!r}\n" + NODE.format("a")
        assert parse_config(text.replace("'", '"')).exporters.prometheus == found
    for bind in ("localhost:9464", "127.0.0.1:70000", "127.0.0.1", "x"):
        found_problems = problems(f'[exporters.prometheus]\nbind = "{bind}"\n' + NODE.format("a"))
        assert len(found_problems) == 1
        assert found_problems[0].startswith(f"exporters.prometheus.bind = '{bind}': expected an IP")
    assert problems("[exporters.grafana]\n" + NODE.format("a")) == [
        "exporters.grafana = a table: no such key (known here: prometheus)"
    ]


def test_an_hl7_tap_needs_its_upstream_and_a_listener_none() -> None:
    config = parse_config(
        '[[hl7.listener]]\nid = "t"\nbind = 2575\nmode = "tap"\nupstream = "ris.example.org:2576"\n'
        'ack_timeout = "2s"\n[[hl7.listener]]\nid = "l"\nbind = "127.0.0.1:2577"\n'
    )
    tap, listener = config.section("hl7").listeners
    assert (tap.upstream_host, tap.upstream_port, tap.ack_timeout) == ("ris.example.org", 2576, 2.0)
    assert (listener.host, listener.port) == ("127.0.0.1", 2577)
    found = problems(
        '[[hl7.listener]]\nid = "t"\nbind = 2575\nmode = "tap"\n'
        '[[hl7.listener]]\nid = "u"\nbind = 2576\nupstream = "ris:1"\n'
        '[[hl7.listener]]\nid = "v"\nbind = "0.0.0.0:1"\nmode = "tap"\nupstream = "ris:99999"\n'
        '[[hl7.listener]]\nid = "w"\nbind = "ris:2575"\nmode = "proxy"\n'
        '[[hl7.listener]]\nid = "x"\nbind = 2578\nack_timeout = "2s"\n'
    )
    assert found == [
        'hl7.listener "t" (#1).upstream: missing; expected the receiver the tap forwards to, '
        'as "host:port" (like "ris.example.org:2575")',
        'hl7.listener "u" (#2).upstream = \'ris:1\': expected nothing unless mode = "tap"',
        "hl7.listener \"v\" (#3).upstream = 'ris:99999': expected the receiver the tap forwards "
        'to, as "host:port" (like "ris.example.org:2575")',
        "hl7.listener \"w\" (#4).bind = 'ris:2575': expected an IP address and port to listen "
        'on, like "127.0.0.1:2575" (loopback unless told)',
        'hl7.listener "w" (#4).mode = \'proxy\': expected "listen" (answer a copy feed) or '
        '"tap" (between a sender and its receiver)',
        'hl7.listener "x" (#5).ack_timeout = \'2s\': expected nothing unless mode = "tap" (a '
        "listener answers each message itself; a tap waits ack_timeout for its receiver's ACK)",
    ]


def test_an_hl7_endpoints_error_limits_are_percentages_crit_at_least_warn() -> None:
    config = parse_config(
        '[[hl7.listener]]\nid = "l"\nbind = 2575\nerror_warn = "0%"\nerror_crit = 10\n'
        '[[hl7.listener]]\nid = "d"\nbind = 2576\n'
    )
    chosen, default = config.section("hl7").listeners
    assert (chosen.error_warn, chosen.error_crit) == (0.0, 0.1)
    assert (default.error_warn, default.error_crit) == (0.05, 0.25)
    found = problems(
        '[[hl7.listener]]\nid = "a"\nbind = 2575\nerror_warn = "5"\n'
        '[[hl7.listener]]\nid = "b"\nbind = 2576\nerror_warn = "30%"\n'
        '[[hl7.listener]]\nid = "c"\nbind = 2577\nerror_warn = "20%"\nerror_crit = "10%"\n'
    )
    assert found == [
        "hl7.listener \"a\" (#1).error_warn = '5': expected a percentage from 0% to 100%, like "
        '"5%" (of the last 5 minutes\' messages; 0%: any failure)',
        'hl7.listener "b" (#2).error_crit (default 25%): expected at least error_warn '
        "(30%); set error_crit",
        "hl7.listener \"c\" (#3).error_crit = '10%': expected at least error_warn (20%)",
    ]


@pytest.mark.parametrize(
    ("bind", "upstream", "loops"),
    [
        ("127.0.0.1:2575", "127.0.0.1:2575", True),
        ("0.0.0.0:2575", "localhost:2575", True),
        ("0.0.0.0:2575", "127.0.1.1:2575", True),
        ("[::]:2575", "[::1]:2575", True),
        ("127.0.0.1:2575", "127.0.0.1:2576", False),  # the receiver beside it
        ("10.1.2.3:2575", "127.0.0.1:2575", False),  # another program on loopback
        ("0.0.0.0:2575", "ris.example.org:2575", False),
    ],
)
def test_a_tap_forwarding_to_itself_is_a_problem(bind: str, upstream: str, loops: bool) -> None:
    text = f'[[hl7.listener]]\nid = "t"\nbind = "{bind}"\nmode = "tap"\nupstream = "{upstream}"\n'
    if not loops:
        parse_config(text)
        return
    assert problems(text) == [
        f"hl7.listener \"t\" (#1).upstream = '{upstream}': expected a receiver other than the "
        "tap itself (it listens there: every message would go round in a loop)"
    ]


def test_an_hl7_link_reads_with_its_test_message_and_defaults(tmp_path: Path) -> None:
    config = parse_config(
        f'[[hl7.link]]\nid = "ris-adt"\nhost = "ris.example.org"\nport = 2575\n'
        f'send = "{tmp_path / "a08.hl7"}"\n[[hl7.link]]\nid = "pacs"\nhost = "10.1.2.3"\n'
        'port = 2576\ninterval = "4s"\n'
    )
    first, second = config.section("hl7").links
    assert (first.host, first.port, first.send, first.interval, first.timeout) == (
        "ris.example.org",
        2575,
        tmp_path / "a08.hl7",
        60.0,
        5.0,
    )
    assert (second.send, second.timeout) == (None, 2.0)  # half the interval when shorter
    found = problems('[[hl7.link]]\nid = "x"\nhost = "bad host"\nport = 0\nsend = "rel.hl7"\n')
    assert found == [
        "hl7.link \"x\" (#1).host = 'bad host': expected a host name or an IP address",
        'hl7.link "x" (#1).port = 0: expected a TCP port from 1 to 65535',
        "hl7.link \"x\" (#1).send = 'rel.hl7': expected the absolute path of a file holding one "
        "HL7 message (a test message to send)",
    ]


def test_store_phi_is_true_or_false_and_off_unless_said() -> None:
    config = parse_config(
        '[[hl7.listener]]\nid = "a"\nbind = 2575\n'
        '[[hl7.listener]]\nid = "b"\nbind = 2576\nstore_phi = true\nmode = "tap"\n'
        'upstream = "ris:2575"\n'
    )
    listener, tap = config.section("hl7").listeners
    assert (listener.store_phi, tap.store_phi) == (False, True)
    assert problems('[[hl7.listener]]\nid = "c"\nbind = 2577\nstore_phi = "yes"\n') == [
        "hl7.listener \"c\" (#1).store_phi = 'yes': expected true (keep PID-3's ID in the "
        "message log) or false (a keyed hash of it)"
    ]


def test_tls_without_its_key_names_the_missing_key() -> None:
    base = '[site]\nname = "T"\n[[audit.syslog]]\nid = "a"\nbind = "127.0.0.1:1514"\n'
    assert problems(base + 'protocol = "tls"\n') == [
        'audit.syslog "a" (#1).cert: missing; expected cert and key (PEM files) for "tls"'
    ]
    assert problems(base + 'protocol = "tls"\ncert = "/etc/a.crt"\n') == [
        'audit.syslog "a" (#1).key: missing; expected cert and key (PEM files) for "tls"'
    ]


def test_config_check_reads_a_links_test_message_as_collect_will(tmp_path: Path) -> None:
    """A link's `send` that is missing or not HL7 is said by config check, not at 3 a.m."""
    good = tmp_path / "good.hl7"
    good.write_text("MSH|^~\\&|PT|IT|RIS|RAD|2026||ADT^A08|X|T|2.5\nEVN|A08\n")
    bad = tmp_path / "bad.hl7"
    bad.write_text("not an HL7 message\n")
    link = '[[hl7.link]]\nid = "{}"\nhost = "127.0.0.1"\nport = 2575\nsend = "{}"\n'
    text = link.format("a", good) + link.format("b", tmp_path / "gone.hl7") + link.format("c", bad)
    with pytest.raises(ConfigError) as info:
        parse_config(text, source=tmp_path / "c.toml", check_paths=True)
    said = [str(p) for p in info.value.problems]
    assert said == [
        f"hl7.link \"b\" (#2).send = '{tmp_path}/gone.hl7': expected a test message collect can "
        f"read (cannot read {tmp_path}/gone.hl7: No such file or directory)",
        f"hl7.link \"c\" (#3).send = '{bad}': expected a test message collect can read ({bad} is "
        "not an HL7 message: no MSH segment first)",
    ]
    parse_config(text)  # without check_paths (the UI, collect at start), not read here


def test_the_audit_policy_compares_its_durations_only_when_both_read() -> None:
    receiver = '[[audit.syslog]]\nid = "atna"\nbind = "127.0.0.1:5514"\n'
    assert problems('[audit]\nidle_after = "1d"\nexpire_after = "8d"\n' + receiver) == [
        "audit.expire_after = '8d': expected a duration from 1m to 7d, like '30m' or '12h'"
    ]  # not also "at least idle_after": 8d was refused, not compared
    assert problems('[audit]\nidle_after = "2h"\nexpire_after = "1h"\n' + receiver) == [
        "audit.expire_after = '1h': expected at least idle_after (2h)"
    ]
    assert problems('[audit]\nidle_after = "13h"\n' + receiver) == [
        "audit.expire_after = '43200s (the default)': expected at least idle_after (13h)"
    ]


@pytest.mark.parametrize("pattern", ["", "  ", "role:"])
def test_an_empty_role_pattern_is_refused(pattern: str) -> None:
    receiver = '[[audit.syslog]]\nid = "atna"\nbind = "127.0.0.1:5514"\n'
    text = f'[audit.roles]\nadmin = ["pacsadmin", "{pattern}"]\n' + receiver
    (problem,) = problems(text)
    assert problem.startswith("audit.roles.admin = ") and "(none empty)" in problem


def test_a_protocol_that_does_not_read_is_said_alone() -> None:
    # framing and cert are judged against the protocol meant, which a typo does not tell.
    receiver = '[[audit.syslog]]\nid = "a"\nbind = "127.0.0.1:5514"\nprotocol = "udpp"\n'
    assert problems(receiver + 'framing = "newline"\ncert = "/etc/ssl/c.pem"\n') == [
        'audit.syslog "a" (#1).protocol = \'udpp\': expected "udp" (RFC 5426), "tcp" (RFC 6587) '
        'or "tls" (RFC 5425)'
    ]
