"""No two entries of a config listen on the same socket: ``config check`` names both, with
their places in the file, even when one of them has a problem in another key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pacs_tui.config import parse_config
from tests.unit.config_problems import problems

NODES = (
    '[[dicom.node]]\nid = "main"\naet = "MAIN"\nhost = "127.0.0.1"\nport = 11112\n'
    '[[dicom.node]]\nid = "copy"\naet = "COPY"\nhost = "127.0.0.2"\nport = 11113\n'
)
UID = "1.2.826.0.1.3680043.8.498.1"


def hl7(id_: str, bind: str) -> str:
    return f'[[hl7.listener]]\nid = "{id_}"\nbind = "{bind}"\n'


def syslog(id_: str, bind: str, protocol: str) -> str:
    return f'[[audit.syslog]]\nid = "{id_}"\nbind = "{bind}"\nprotocol = "{protocol}"\n'


def drill(bind: str) -> str:
    return f'[dr]\nmirror = "copy"\ntest_study = "{UID}"\nretrieve = "move"\nmove_bind = "{bind}"\n'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            NODES + hl7("adt", "0.0.0.0:11113") + drill("127.0.0.1:11113"),
            "dr.move_bind = '127.0.0.1:11113': expected an address and port no other entry "
            'listens on (hl7.listener "adt" (#1).bind listens on 0.0.0.0:11113, TCP)',
        ),
        (
            hl7("adt", "127.0.0.1:6514") + syslog("atna", "127.0.0.1:6514", "tcp"),
            "audit.syslog \"atna\" (#1).bind = '127.0.0.1:6514': expected an address and port "
            'no other entry listens on (hl7.listener "adt" (#1).bind listens on 127.0.0.1:6514, '
            "TCP)",
        ),
        (
            '[exporters.prometheus]\nbind = "[::]:9464"\n' + hl7("adt", "[::1]:9464"),
            "hl7.listener \"adt\" (#1).bind = '[::1]:9464': expected an address and port no other "
            "entry listens on (exporters.prometheus.bind listens on [::]:9464, TCP)",
        ),
        (
            syslog("a", "0.0.0.0:514", "udp") + syslog("b", "10.0.0.5:514", "udp"),
            "audit.syslog \"b\" (#2).bind = '10.0.0.5:514': expected an address and port no "
            'other entry listens on (audit.syslog "a" (#1).bind listens on 0.0.0.0:514, UDP)',
        ),
        (  # two entries with one id: the place in the file tells them apart
            hl7("adt", "127.0.0.1:2575") + hl7("adt", "127.0.0.1:2575"),
            [
                "hl7.listener \"adt\" (#2).id = 'adt': expected a unique id (hl7.listener "
                '"adt" (#1) has it)',
                "hl7.listener \"adt\" (#2).bind = '127.0.0.1:2575': expected an address and "
                'port no other entry listens on (hl7.listener "adt" (#1).bind listens on '
                "127.0.0.1:2575, TCP)",
            ],
        ),
    ],
)
def test_two_entries_on_one_socket_are_said(text: str, expected: str | list[str]) -> None:
    assert problems(text) == (expected if isinstance(expected, list) else [expected])


def test_an_entry_with_another_problem_still_has_its_clash_said() -> None:
    """One run of ``config check`` says both: fixing the first would only show the second."""
    text = hl7("adt", "127.0.0.1:2575") + hl7("orders", "127.0.0.1:2575") + 'max_frame = "big"\n'
    said = problems(text)
    assert len(said) == 2
    assert said[0].startswith("hl7.listener \"orders\" (#2).max_frame = 'big': expected a size")
    assert said[1] == (
        "hl7.listener \"orders\" (#2).bind = '127.0.0.1:2575': expected an address and port "
        'no other entry listens on (hl7.listener "adt" (#1).bind listens on 127.0.0.1:2575, TCP)'
    )


@pytest.mark.parametrize(
    "text",
    [
        # A bind that does not read is said as such, and clashes with nothing.
        hl7("adt", "127.0.0.1:2575") + hl7("orders", "127.0.0.1:99999"),
        # A syslog entry whose protocol does not read: no telling its socket.
        hl7("adt", "127.0.0.1:2575") + syslog("atna", "127.0.0.1:2575", "tcp6"),
    ],
)
def test_a_bind_that_does_not_read_clashes_with_nothing(text: str) -> None:
    said = problems(text)
    assert len(said) == 1
    assert "no other entry listens on" not in said[0]


@pytest.mark.parametrize(
    "text",
    [
        # The same port over UDP and TCP, on two addresses, in two families: no clash.
        syslog("a", "127.0.0.1:2575", "udp") + hl7("adt", "127.0.0.1:2575"),
        hl7("a", "127.0.0.1:2575") + hl7("b", "127.0.0.2:2575"),
        hl7("a", "0.0.0.0:2575") + hl7("b", "[::]:2575"),
        # A drill by C-GET listens on nothing.
        NODES + hl7("adt", "127.0.0.1:11113") + f'[dr]\nmirror = "copy"\ntest_study = "{UID}"\n',
    ],
)
def test_sockets_that_do_not_clash_pass(text: str) -> None:
    parse_config(text)


def test_config_check_names_the_clash(tmp_path: Path) -> None:
    config = tmp_path / "pacs-tui.toml"
    config.write_text(NODES + hl7("adt", "127.0.0.1:11113") + drill("127.0.0.1:11113"))
    done = subprocess.run(
        [sys.executable, "-m", "pacs_tui", "config", "check", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    said = done.stderr + done.stdout
    assert "dr.move_bind" in said
    assert 'hl7.listener "adt" (#1).bind listens on 127.0.0.1:11113' in said
    assert "Traceback" not in done.stderr
