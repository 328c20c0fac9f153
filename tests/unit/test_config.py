"""Config validation: every problem reported at once, by key path, value and expectation."""

from __future__ import annotations

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


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    return [str(p) for p in info.value.problems]


def test_good_config_parses_with_defaults_and_overrides() -> None:
    config = parse_config(GOOD)
    assert config.site.name == "St Example"
    archive, ct = config.dicom.nodes
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
    assert "site.colour = 'blue': expected no such key" in joined
    assert "dicom.interval = '5x': expected a duration from 1s to 1d" in joined
    assert "dicom.node[0].aet = 'THIS_AE_TITLE_IS_TOO_LONG'" in joined
    assert "dicom.node[0].port = 70000: expected a TCP port from 1 to 65535" in joined
    assert "dicom.node[1].role = 'boss': expected one of archive" in joined


def test_missing_required_keys_are_named() -> None:
    found = problems("[[dicom.node]]\nid = 'x'\n")
    assert "dicom.node[0].aet: missing; expected an AE title" in found[0]
    assert any(p.startswith("dicom.node[0].host: missing") for p in found)
    assert any(p.startswith("dicom.node[0].port: missing") for p in found)


def test_duplicate_ids_and_timeout_not_below_interval() -> None:
    node = "[[dicom.node]]\nid='a'\naet='A'\nhost='h'\nport=104\n"
    found = problems(node + node + "timeout='1m'\ninterval='30s'\n")
    assert "dicom.node[1].id = 'a': expected a unique id (dicom.node[0] has it)" in found
    assert (
        "dicom.node[1].timeout = '1m': expected less than the interval "
        "(dicom.node[1].interval = 30s)" in found
    )
    found = problems(node + node)
    assert found == ["dicom.node[1].id = 'a': expected a unique id (dicom.node[0] has it)"]


def test_cross_checks_are_reported_with_other_errors_and_name_inherited_keys() -> None:
    found = problems(
        "[dicom]\ntimeout = '5s'\n[[dicom.node]]\nid='a'\naet='A'\nhost='h'\nport=0\n"
        "interval = '2s'\n"
        "[[dicom.node]]\nid='a'\naet='B'\nhost='bad host!'\nport=104\nwarn_latency='1m30s'\n"
    )
    assert "dicom.node[0].port = 0: expected a TCP port from 1 to 65535" in found
    assert any(
        p.startswith("dicom.timeout (inherited by dicom.node[0]) = 5.0: expected less than")
        for p in found
    )
    assert "dicom.node[1].id = 'a': expected a unique id (dicom.node[0] has it)" in found
    assert "dicom.node[1].host = 'bad host!': expected a host name or IP address" in found
    assert any(p.startswith("dicom.node[1].warn_latency = '1m30s'") for p in found)


@pytest.mark.parametrize(
    ("key", "value"),
    [("interval", "nan"), ("interval", "1e400"), ("timeout", "1e-9"), ("interval", "'0s'")],
)
def test_nonsense_durations_are_rejected(key: str, value: str) -> None:
    node = "[[dicom.node]]\nid='a'\naet='A'\nhost='h'\nport=104\n"
    found = problems(node + f"{key} = {value}\n")
    assert any(p.startswith(f"dicom.node[0].{key} = ") for p in found)


def test_a_config_with_nothing_to_watch_is_an_error() -> None:
    assert problems("") == [
        "dicom.node: missing; expected at least one [[dicom.node]]: nothing to watch"
    ]


def test_unknown_and_future_tables() -> None:
    found = problems("[hl7]\n[frobnicate]\n[[dicom.node]]\nid='a'\naet='A'\nhost='h'\nport=1\n")
    assert "does not support yet" in found[0]
    assert found[1].startswith("frobnicate = a table: expected no such table")


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
    assert parse_config(text).dicom.nodes[0].id == "archive-main"
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
    node = parse_config(uncommented).dicom.nodes[0]
    assert node.site == "main" and node.warn_latency == 1.0


def test_a_wholly_inherited_conflict_is_reported_once_at_its_source() -> None:
    node = "[[dicom.node]]\nid='{}'\naet='A'\nhost='h'\nport=104\n"
    found = problems(
        "[dicom]\ntimeout='1s'\nwarn_latency='2s'\n" + node.format("a") + node.format("b")
    )
    assert found == [
        "dicom.warn_latency = '2s': expected less than the timeout (dicom.timeout = 1s)"
    ]
