"""Secrets: the order of the sources (keyring, $PACS_TUI_SECRET_<NAME>, the 0600 file), a
headless machine with no keyring backend, a file-based keyring (keyrings.alt), the file's
checks (mode, owner, links, FIFOs, size), names, and a value never shown in words or reprs.

The real user's keyring is never touched: every test runs on the ``fail`` backend unless it
installs another, and the secrets file is in tmp_path."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import keyring
import keyring.core
import pytest
from keyring.backend import KeyringBackend

from pacs_tui import secret_store
from pacs_tui.secret_store import SecretError, SecretNotFound

VALUE = "hunter2-Zq9!"


@pytest.fixture(autouse=True)
def no_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The ``fail`` backend (a headless server), a secrets file in tmp_path, no secret in the
    environment; the process's keyring is put back after the test."""
    failing = keyring.core.load_keyring("keyring.backends.fail.Keyring")
    monkeypatch.setattr(keyring.core, "_keyring_backend", failing)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    for name in list(os.environ):
        if name.startswith("PACS_TUI_SECRET"):
            monkeypatch.delenv(name)
    path = tmp_path / "conf" / "secrets" / "secrets.toml"
    monkeypatch.setenv("PACS_TUI_SECRETS_FILE", str(path))
    return path


@pytest.fixture
def plaintext_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> KeyringBackend:
    """keyrings.alt's PlaintextKeyring, its file in tmp_path: a real file-based backend, named
    on purpose (as $PYTHON_KEYRING_BACKEND)."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    backend = keyring.core.load_keyring("keyrings.alt.file.PlaintextKeyring")
    backend.file_path = str(tmp_path / "keyring" / "keyring_pass.cfg")  # type: ignore[attr-defined]
    keyring.set_keyring(backend)
    return backend


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


# -- no keyring backend -------------------------------------------------------------------------


def test_without_a_keyring_a_secret_goes_to_a_0600_file_in_a_0700_folder(no_keyring: Path) -> None:
    old = os.umask(0)  # whatever the umask, the modes are exact
    try:
        went = secret_store.set_secret("orthanc-admin", VALUE)
    finally:
        os.umask(old)
    assert went == f"file {no_keyring}"
    assert mode(no_keyring) == 0o600 and mode(no_keyring.parent) == 0o700
    found = secret_store.resolve("orthanc-admin")
    assert (found.value, found.source) == (VALUE, f"file {no_keyring}")
    assert os.listdir(no_keyring.parent) == ["secrets.toml"]  # no temporary file left


@pytest.mark.parametrize(
    "backend", ["keyring.backends.fail.Keyring", "keyring.backends.null.Keyring"]
)
def test_the_fail_and_null_backends_are_no_keyring(backend: str, no_keyring: Path) -> None:
    keyring.set_keyring(keyring.core.load_keyring(backend))
    assert secret_store.keyring_words() == "keyring: no backend"
    assert secret_store.set_secret("a", VALUE) == f"file {no_keyring}"


def test_what_each_source_said_when_none_has_it(no_keyring: Path) -> None:
    with pytest.raises(SecretNotFound) as info:
        secret_store.resolve("orthanc-admin")
    assert info.value.reasons == [
        "keyring: no backend",
        "no $PACS_TUI_SECRET_ORTHANC_ADMIN",
        f"no file {no_keyring}",
    ]
    secret_store.set_secret("other", VALUE)
    assert secret_store.where("orthanc-admin") == (
        "NOT FOUND (keyring: no backend; no $PACS_TUI_SECRET_ORTHANC_ADMIN; "
        f"not in file {no_keyring})"
    )


def test_the_environment_variable_is_read_before_the_file(
    no_keyring: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_store.set_secret("orthanc.admin-1", "from-the-file")
    monkeypatch.setenv("PACS_TUI_SECRET_ORTHANC_ADMIN_1", VALUE)
    found = secret_store.resolve("orthanc.admin-1")
    assert found.value == VALUE
    assert found.source == "environment variable PACS_TUI_SECRET_ORTHANC_ADMIN_1"
    assert secret_store.where("orthanc.admin-1") == (
        "from environment variable PACS_TUI_SECRET_ORTHANC_ADMIN_1"
    )


def test_an_empty_variable_is_not_a_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PACS_TUI_SECRET_X", "")
    with pytest.raises(SecretNotFound) as info:
        secret_store.resolve("x")
    assert "$PACS_TUI_SECRET_X is empty" in info.value.reasons


def test_a_value_survives_the_file_whatever_its_characters(no_keyring: Path) -> None:
    odd = 'a "quoted" \\ back\tslash\nnew line é 🔑 = [x]'
    secret_store.set_secret("odd", odd)
    secret_store.set_secret("plain", VALUE)
    assert secret_store.resolve("odd").value == odd
    assert secret_store.resolve("plain").value == VALUE


def test_the_file_keeps_its_other_entries_and_comments(no_keyring: Path) -> None:
    secret_store.set_secret("a", "one")
    with no_keyring.open("a") as f:
        f.write("# the RIS's account\n")
    secret_store.set_secret("b", "two")
    secret_store.set_secret("a", "three")
    assert "# the RIS's account" in no_keyring.read_text()
    assert secret_store.read_file(no_keyring) == {"a": "three", "b": "two"}


def test_list_names_the_files_and_the_environments_secrets_never_a_value(
    no_keyring: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_store.set_secret("orthanc-admin", VALUE)
    monkeypatch.setenv("PACS_TUI_SECRET_ORTHANC_ADMIN", VALUE)
    monkeypatch.setenv("PACS_TUI_SECRET_RIS_DB", VALUE)
    listed = secret_store.list_secrets()
    assert listed == [
        (
            "orthanc-admin",
            f"file {no_keyring} ($PACS_TUI_SECRET_ORTHANC_ADMIN is read first)",
        ),
        ("orthanc_admin", "environment variable PACS_TUI_SECRET_ORTHANC_ADMIN"),
        ("ris_db", "environment variable PACS_TUI_SECRET_RIS_DB"),
    ]
    assert VALUE not in repr(listed)


def test_delete_says_where_it_was_and_leaves_the_others(no_keyring: Path) -> None:
    secret_store.set_secret("a", "one")
    secret_store.set_secret("b", "two")
    assert secret_store.delete_secret("a") == [f"file {no_keyring}"]
    assert secret_store.delete_secret("a") == []
    assert secret_store.read_file(no_keyring) == {"b": "two"}


def test_nothing_to_delete_without_a_file(no_keyring: Path) -> None:
    assert secret_store.delete_secret("a") == []
    assert not no_keyring.parent.exists()


def test_an_empty_value_is_not_stored(no_keyring: Path) -> None:
    with pytest.raises(SecretError, match="empty"):
        secret_store.set_secret("a", "")
    assert not no_keyring.exists()


# -- a real file-based keyring (keyrings.alt) -----------------------------------------------------


def test_with_a_keyring_a_secret_goes_there_and_is_read_from_there_first(
    plaintext_keyring: KeyringBackend, no_keyring: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert secret_store.set_secret("orthanc-admin", VALUE) == "keyring (PlaintextKeyring)"
    assert plaintext_keyring.get_password("pacs-tui", "orthanc-admin") == VALUE
    assert not no_keyring.exists()
    monkeypatch.setenv("PACS_TUI_SECRET_ORTHANC_ADMIN", "from-the-environment")
    secret_store.set_secret("orthanc-admin", "from-the-file", to_file=True)
    found = secret_store.resolve("orthanc-admin")
    assert (found.value, found.source) == (VALUE, "keyring (PlaintextKeyring)")
    assert secret_store.where("orthanc-admin") == "from keyring (PlaintextKeyring)"


def test_a_keyring_without_the_secret_falls_through_to_the_next_source(
    plaintext_keyring: KeyringBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PACS_TUI_SECRET_A", VALUE)
    found = secret_store.resolve("a")
    assert found.source == "environment variable PACS_TUI_SECRET_A"
    monkeypatch.delenv("PACS_TUI_SECRET_A")
    assert secret_store.where("a").startswith("NOT FOUND (not in keyring (PlaintextKeyring); ")


def test_delete_removes_it_from_the_keyring_and_the_file(
    plaintext_keyring: KeyringBackend, no_keyring: Path
) -> None:
    secret_store.set_secret("a", VALUE)
    secret_store.set_secret("a", VALUE, to_file=True)
    assert secret_store.delete_secret("a") == ["keyring (PlaintextKeyring)", f"file {no_keyring}"]
    assert plaintext_keyring.get_password("pacs-tui", "a") is None
    with pytest.raises(SecretNotFound):
        secret_store.resolve("a")


class Broken(KeyringBackend):
    """A keyring that fails as a locked or unreachable one does."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]

    def get_password(self, service: str, username: str) -> str | None:
        raise RuntimeError("org.freedesktop.DBus.Error.ServiceUnknown\nmore lines")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise RuntimeError("the collection is locked")

    def delete_password(self, service: str, username: str) -> None:
        raise RuntimeError("the collection is locked")


def test_a_keyring_that_fails_is_a_reason_and_the_next_source_is_read(
    no_keyring: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyring.set_keyring(Broken())
    went = secret_store.set_secret("a", VALUE)
    assert went.startswith(f"file {no_keyring} (keyring (Broken) could not store it: ")
    assert "the collection is locked" in went
    assert secret_store.resolve("a").source == f"file {no_keyring}"
    # The keyring's failure is said even when the file had it.
    with pytest.raises(SecretError, match=r"keyring \(Broken\): RuntimeError: .*; deleted from"):
        secret_store.delete_secret("a")
    assert secret_store.where("a") == (
        "NOT FOUND (keyring (Broken): RuntimeError: org.freedesktop.DBus.Error.ServiceUnknown; "
        f"no $PACS_TUI_SECRET_A; not in file {no_keyring})"
    )


class EncryptedKeyring(KeyringBackend):
    """Stands for keyrings.alt's encrypted file: it asks for its password at the terminal."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]

    def get_password(self, service: str, username: str) -> str | None:
        raise AssertionError("asked for the keyring's password")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise AssertionError("asked for the keyring's password")

    def delete_password(self, service: str, username: str) -> None:
        raise AssertionError("asked for the keyring's password")


def test_a_check_never_asks_a_keyring_that_prompts(monkeypatch: pytest.MonkeyPatch) -> None:
    keyring.set_keyring(EncryptedKeyring())
    monkeypatch.setenv("PACS_TUI_SECRET_A", VALUE)
    assert secret_store.resolve("a", may_prompt=False).value == VALUE


# -- the file's checks ----------------------------------------------------------------------------


def test_a_file_others_may_read_is_refused_with_the_fix(no_keyring: Path) -> None:
    secret_store.set_secret("a", VALUE)
    no_keyring.chmod(0o644)
    for call in (
        lambda: secret_store.resolve("a"),
        lambda: secret_store.set_secret("b", VALUE),
        secret_store.list_secrets,
    ):
        with pytest.raises(SecretError) as info:
            call()
        words = str(info.value)
        assert f"file {no_keyring} refused: mode 0644" in words
        assert f"chmod 600 {no_keyring}" in words and VALUE not in words
    assert secret_store.where("a").endswith(f"chmod 600 {no_keyring})")


def test_a_folder_others_may_enter_is_refused_with_the_fix(no_keyring: Path) -> None:
    secret_store.set_secret("a", VALUE)
    no_keyring.parent.chmod(0o755)
    with pytest.raises(SecretError) as info:
        secret_store.read_file(no_keyring)
    assert f"folder {no_keyring.parent} refused: mode 0755" in str(info.value)
    assert f"chmod 700 {no_keyring.parent}" in str(info.value)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file away needs root")
def test_a_file_that_is_someone_elses_is_refused(no_keyring: Path) -> None:
    secret_store.set_secret("a", VALUE)
    os.chown(no_keyring, 65534, 65534)
    with pytest.raises(SecretError, match="it belongs to uid 65534, not to this user"):
        secret_store.resolve("a")


def test_a_symbolic_link_is_refused(no_keyring: Path, tmp_path: Path) -> None:
    secret_store.set_secret("a", VALUE)
    real = tmp_path / "elsewhere.toml"
    no_keyring.rename(real)
    no_keyring.symlink_to(real)
    with pytest.raises(SecretError, match="refused: it is a symbolic link"):
        secret_store.resolve("a")
    with pytest.raises(SecretError, match="refused: it is a symbolic link"):
        secret_store.set_secret("b", VALUE)
    assert "b" not in real.read_text()


def test_a_symbolic_link_for_the_folder_is_refused(no_keyring: Path, tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    no_keyring.parent.parent.mkdir()
    no_keyring.parent.symlink_to(real)
    with pytest.raises(SecretError, match=r"folder .* refused: it is a symbolic link"):
        secret_store.set_secret("a", VALUE)
    assert list(real.iterdir()) == []


def test_a_fifo_is_refused_without_waiting_on_it(no_keyring: Path) -> None:
    no_keyring.parent.mkdir(parents=True, mode=0o700)
    os.mkfifo(no_keyring, 0o600)
    with pytest.raises(SecretError, match="refused: it is a FIFO, not a regular file"):
        secret_store.resolve("a")


def test_a_file_over_a_mebibyte_is_refused(no_keyring: Path) -> None:
    secret_store.set_secret("a", VALUE)
    with no_keyring.open("a") as f:
        f.write("# " + "x" * (1 << 20) + "\n")
    with pytest.raises(SecretError, match="larger than 1 MiB"):
        secret_store.resolve("a")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (f'a = "{VALUE}\n', "is not valid TOML"),
        (f'a = ["{VALUE}"]\n', 'a is not a string (write a = "...")'),
        (f'"a b" = "{VALUE}"\n', "'a b' is not a name"),
    ],
)
def test_a_file_that_is_not_names_and_strings_is_refused_in_words(
    no_keyring: Path, text: str, words: str
) -> None:
    secret_store.set_secret("a", VALUE)
    no_keyring.write_text(text)
    with pytest.raises(SecretError) as info:
        secret_store.resolve("a")
    assert words in str(info.value) and VALUE not in str(info.value)


# -- names and references -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "a b", "a/b", "é", "x" * 65, "a:b", "$A"])
def test_a_bad_name_is_refused_in_words(name: str) -> None:
    with pytest.raises(SecretError, match="is not a secret name: use 1 to 64 letters, digits"):
        secret_store.set_secret(name, VALUE)
    with pytest.raises(SecretError, match="is not a secret name"):
        secret_store.resolve(name)


@pytest.mark.parametrize(
    ("name", "variable"),
    [
        ("orthanc-admin", "PACS_TUI_SECRET_ORTHANC_ADMIN"),
        ("ris.db_1", "PACS_TUI_SECRET_RIS_DB_1"),
        ("X" * 64, "PACS_TUI_SECRET_" + "X" * 64),
    ],
)
def test_the_variable_of_a_name(name: str, variable: str) -> None:
    assert secret_store.env_name(name) == variable


def test_a_reference_is_secret_colon_name() -> None:
    assert secret_store.reference_name("secret:orthanc-admin") == "orthanc-admin"
    assert secret_store.reference_name("hunter2") is None
    assert secret_store.reference_name("Secret:x") is None
    with pytest.raises(SecretError, match="'bad name' is not a secret name"):
        secret_store.reference_name("secret:bad name")
    with pytest.raises(SecretError, match="'' is not a secret name"):
        secret_store.reference_name("secret:")


def test_a_resolved_secret_does_not_show_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PACS_TUI_SECRET_A", VALUE)
    found = secret_store.resolve("a")
    assert VALUE not in repr(found) and VALUE not in str(found)


def test_the_default_file_is_in_the_users_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PACS_TUI_SECRETS_FILE")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    expected = tmp_path / "xdg" / "pacs-tui" / "secrets" / "secrets.toml"
    assert secret_store.secrets_file() == expected


def test_a_plain_text_keyring_picked_by_keyring_alone_is_not_used(
    no_keyring: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """keyrings.alt installed, nothing named: its base64 file is weaker than our 0600 file."""
    backend = keyring.core.load_keyring("keyrings.alt.file.PlaintextKeyring")
    backend.file_path = str(tmp_path / "keyring" / "keyring_pass.cfg")  # type: ignore[attr-defined]
    keyring.set_keyring(backend)
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND")
    assert secret_store.set_secret("orthanc-admin", VALUE).startswith("file ")
    assert "only a plain-text file (keyrings.alt), not used" in secret_store.keyring_words()
    assert not (tmp_path / "keyring" / "keyring_pass.cfg").exists()
