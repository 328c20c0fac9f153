"""``pacs-tui secrets`` and the secrets lines of ``config check`` as a user meets them: the real
CLI in a subprocess with HOME, the XDG folders and the keyring backend in tmp_path (the user's
own keyring is never touched). Every command's output is checked for the value."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "pacs_tui"]
VALUE = "hunter2-Zq9!"
NO_BACKEND = "keyring.backends.fail.Keyring"
PLAINTEXT = "keyrings.alt.file.PlaintextKeyring"

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run(tmp_path: Path) -> Run:
    """Runs ``pacs-tui`` in a clean environment under tmp_path; asserts that nothing it printed
    holds the value."""
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PACS_TUI_", "PYTHON_KEYRING", "XDG_"))
    }
    base.update(
        HOME=str(tmp_path / "home"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        PYTHON_KEYRING_BACKEND=NO_BACKEND,
    )

    def run(
        *args: str, stdin: str = "", env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(
            [*CLI, *args],
            cwd=tmp_path,
            env={**base, **(env or {})},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert VALUE not in out.stdout + out.stderr
        return out

    return run


def secrets_file(tmp_path: Path) -> Path:
    return tmp_path / "config" / "pacs-tui" / "secrets" / "secrets.toml"


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_without_a_keyring_set_stores_the_piped_line_in_a_0600_file(
    run: Run, tmp_path: Path
) -> None:
    out = run("secrets", "set", "orthanc-admin", stdin=VALUE + "\n")
    path = secrets_file(tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"secret orthanc-admin: stored in file {path}\n"
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    assert VALUE in path.read_text()  # the one place it is written
    out = run("secrets", "where", "orthanc-admin")
    assert (out.returncode, out.stdout) == (0, f"secret orthanc-admin: from file {path}\n")
    out = run("secrets", "list")
    assert out.returncode == 0
    assert out.stdout.splitlines() == [
        f"orthanc-admin: file {path}",
        "keyring: no backend on this machine (secrets go to the file)",
    ]


def test_the_environment_variable_wins_over_the_file(run: Run, tmp_path: Path) -> None:
    env = {"PACS_TUI_SECRET_ORTHANC_ADMIN": "from-the-environment"}
    out = run("secrets", "set", "orthanc-admin", stdin=VALUE, env=env)
    assert out.returncode == 0
    assert out.stdout.splitlines()[1] == (
        "note: secret orthanc-admin resolves from environment variable "
        "PACS_TUI_SECRET_ORTHANC_ADMIN"
    )
    out = run("secrets", "where", "orthanc-admin", env=env)
    assert out.stdout == (
        "secret orthanc-admin: from environment variable PACS_TUI_SECRET_ORTHANC_ADMIN\n"
    )
    assert "from-the-environment" not in out.stdout + out.stderr


def test_with_a_file_keyring_set_goes_to_the_keyring_and_is_read_from_there_first(
    run: Run, tmp_path: Path
) -> None:
    env = {"PYTHON_KEYRING_BACKEND": PLAINTEXT}
    out = run("secrets", "set", "orthanc-admin", stdin=VALUE + "\n", env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "secret orthanc-admin: stored in keyring (PlaintextKeyring)\n"
    assert (tmp_path / "data" / "python_keyring" / "keyring_pass.cfg").is_file()
    assert not secrets_file(tmp_path).exists()
    both = {**env, "PACS_TUI_SECRET_ORTHANC_ADMIN": "from-the-environment"}
    out = run("secrets", "where", "orthanc-admin", env=both)
    assert out.stdout == "secret orthanc-admin: from keyring (PlaintextKeyring)\n"
    out = run("secrets", "list", env=env)
    assert out.stdout.splitlines()[-1] == (
        "keyring (PlaintextKeyring): its entries cannot be listed; pacs-tui secrets where NAME"
    )
    out = run("secrets", "delete", "orthanc-admin", env=env)
    assert out.stdout == "secret orthanc-admin: deleted from keyring (PlaintextKeyring)\n"
    out = run("secrets", "where", "orthanc-admin", env=env)
    assert out.returncode == 1
    assert out.stdout.startswith("secret orthanc-admin: NOT FOUND (not in keyring (Plaintext")


def test_set_file_stores_in_the_file_even_with_a_keyring(run: Run, tmp_path: Path) -> None:
    env = {"PYTHON_KEYRING_BACKEND": PLAINTEXT}
    out = run("secrets", "set", "a", "--file", stdin=VALUE, env=env)
    assert out.stdout == f"secret a: stored in file {secrets_file(tmp_path)}\n"


def test_a_file_others_may_read_is_refused_in_words(run: Run, tmp_path: Path) -> None:
    run("secrets", "set", "a", stdin=VALUE)
    path = secrets_file(tmp_path)
    path.chmod(0o640)
    for args in (("where", "a"), ("list",), ("delete", "a")):
        out = run("secrets", *args)
        assert out.returncode == 1, args
        assert f"refused: mode 0640 lets the group or others in; chmod 600 {path}" in (
            out.stdout + out.stderr
        ), args
    out = run("secrets", "set", "b", stdin=VALUE)
    assert out.returncode == 1 and "chmod 600" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("kind", ["symbolic link", "FIFO"])
def test_a_link_or_a_fifo_for_the_file_is_refused_without_hanging(
    run: Run, tmp_path: Path, kind: str
) -> None:
    path = secrets_file(tmp_path)
    path.parent.mkdir(parents=True, mode=0o700)
    if kind == "FIFO":
        os.mkfifo(path, 0o600)
    else:
        (tmp_path / "real.toml").write_text(f'a = "{VALUE}"\n')
        path.symlink_to(tmp_path / "real.toml")
    out = run("secrets", "list")
    assert out.returncode == 1
    assert f"file {path} refused: it is a {kind}" in out.stderr
    out = run("secrets", "set", "a", stdin=VALUE)
    assert out.returncode == 1 and "refused" in out.stderr


@pytest.mark.parametrize("name", ["bad name", "a/b", "x" * 65, ""])
def test_a_bad_name_is_a_usage_error_in_words(run: Run, name: str) -> None:
    for action in ("set", "delete", "where"):
        out = run("secrets", action, name, stdin=VALUE)
        assert out.returncode == 2, (action, out.stderr)
        assert "is not a secret name: use 1 to 64 letters, digits, '-', '_' or '.'" in out.stderr


def test_an_empty_value_is_refused(run: Run, tmp_path: Path) -> None:
    out = run("secrets", "set", "a", stdin="\n")
    assert out.returncode == 2 and "the value is empty: nothing stored" in out.stderr
    assert not secrets_file(tmp_path).exists()


def test_a_value_on_the_command_line_is_refused_and_not_echoed(run: Run, tmp_path: Path) -> None:
    out = run("secrets", "set", "a", VALUE)  # `run` asserts VALUE is in no output
    assert out.returncode == 2 and "never given on the command line" in out.stderr
    assert not secrets_file(tmp_path).exists()


def test_a_value_over_64_kib_is_refused(run: Run) -> None:
    out = run("secrets", "set", "a", stdin="x" * (64 * 1024 + 1) + "\n")
    assert out.returncode == 2 and "longer than 64 KiB" in out.stderr


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        ([VALUE, VALUE], ""),
        ([VALUE, VALUE + "x"], "the two values differ: nothing stored"),
        ([""], "the value is empty: nothing stored"),
        ([EOFError()], "no value typed: nothing stored"),
    ],
)
def test_at_a_terminal_the_value_is_typed_twice_without_echo(
    monkeypatch: pytest.MonkeyPatch, typed: list[str | EOFError], words: str
) -> None:
    import getpass
    import io

    from pacs_tui import cli_secrets

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    answers = iter(typed)
    prompts: list[str] = []

    def fake_getpass(prompt: str = "Password: ", stream: object = None) -> str:
        prompts.append(prompt)
        answer = next(answers)
        if isinstance(answer, EOFError):
            raise answer
        return answer

    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    if not words:
        assert cli_secrets._read_value("a") == VALUE
        assert prompts == ["Value of secret a: ", "Again: "]
        return
    with pytest.raises(cli_secrets._BadValue, match=words):
        cli_secrets._read_value("a")


def test_delete_of_a_secret_that_is_nowhere_is_not_found(run: Run) -> None:
    out = run("secrets", "delete", "a")
    assert out.returncode == 1
    assert "secret a is in neither the keyring nor the file" in out.stderr


def test_secrets_help_says_the_order_of_the_sources(run: Run) -> None:
    out = run("secrets", "--help")
    assert out.returncode == 0
    text = " ".join(out.stdout.split())
    assert "keyring ▸ $PACS_TUI_SECRET_<NAME>" in text and "▸ the 0600 file" in text


# -- config check -------------------------------------------------------------------------------


def write_config(tmp_path: Path, *passwords: str) -> Path:
    lines = [f'[history]\npath = "{tmp_path / "history.sqlite"}"\n']
    for index, password in enumerate(passwords):
        lines.append(
            f'[[storage.archive]]\nid = "orthanc-{index}"\nurl = "http://127.0.0.1:8042"\n'
            f'username = "pacs-tui"\npassword = "{password}"\n'
        )
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines))
    return path


def test_config_check_says_where_each_secret_resolves_from(run: Run, tmp_path: Path) -> None:
    config = write_config(tmp_path, "secret:orthanc-admin", "secret:ris", "secret:orthanc-admin")
    run("secrets", "set", "orthanc-admin", stdin=VALUE)
    out = run("config", "check", "--config", str(config), env={"PACS_TUI_SECRET_RIS": VALUE})
    assert out.returncode == 0, out.stderr
    # Archives are counted as archives, not as volumes.
    assert out.stdout.splitlines()[0] == f"{config}: OK — site 'pacs', 3 archives"
    assert out.stdout.splitlines()[2:] == [
        f"secret orthanc-admin: from file {secrets_file(tmp_path)}",
        "secret ris: from environment variable PACS_TUI_SECRET_RIS",
    ]


def test_config_check_fails_on_a_secret_not_found(run: Run, tmp_path: Path) -> None:
    config = write_config(tmp_path, "secret:orthanc-admin")
    out = run("config", "check", "--config", str(config))
    assert out.returncode == 1
    assert out.stdout.splitlines()[-1] == (
        "secret orthanc-admin: NOT FOUND (keyring: no backend; "
        f"no $PACS_TUI_SECRET_ORTHANC_ADMIN; no file {secrets_file(tmp_path)})"
    )
    assert "1 secret(s) not found" in out.stderr
    # The verdict never says OK before it: the config is valid, the secret is not there.
    assert out.stdout.splitlines()[0].startswith(f"{config}: valid, but 1 secret(s) not found")
    assert "OK" not in out.stdout.splitlines()[0]


def test_config_check_refuses_a_password_typed_in_the_toml(run: Run, tmp_path: Path) -> None:
    config = write_config(tmp_path, VALUE)  # `run` asserts VALUE is in no output
    out = run("config", "check", "--config", str(config))
    assert out.returncode == 1
    assert ".password = '(hidden)': expected a reference \"secret:NAME\"" in out.stderr
