"""The demo's backups: a folder of nightly RIS database dumps (the newest two hours old) and,
when restic is installed, a real restic repository holding one snapshot of that folder, its
password given to the engine through ``$PACS_TUI_SECRET_DEMO_RESTIC`` as a headless server
would. Everything lives in the demo's temporary folder and goes with it."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from pacs_tui.secret_store import env_name

#: The secret's name in the demo's ``[[backup.restic]]`` (``password = "secret:demo-restic"``).
SECRET = "demo-restic"
#: The dumps: hours ago and size; the newest is a little larger, as a growing database's.
DUMPS = ((50.0, 180_000), (26.0, 181_000), (2.0, 183_000))
#: restic's own runs at start-up get this long (its key derivation takes a second or so).
RESTIC_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class DemoBackupPaths:
    dumps: Path
    #: The restic repository, or None when restic is not installed (or failed to set up).
    restic: Path | None
    #: The restic program that made it: the engine runs this one (it looks for a bare
    #: "restic" only in /usr/local/bin, /usr/bin and /bin, not in this shell's PATH).
    restic_program: str = ""


class DemoBackups:
    """Sets the dumps and the repository up in ``folder``; nothing runs afterwards."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def start(self) -> DemoBackupPaths:
        dumps = self.folder / "ris-dumps"
        dumps.mkdir(parents=True, exist_ok=True)
        now = time.time()
        for hours, size in DUMPS:
            when = now - hours * 3600
            name = time.strftime("ris-%Y%m%d-%H%M.sql.gz", time.localtime(when))
            path = dumps / name
            path.write_bytes(bytes(size))
            os.utime(path, (when, when))
        program = shutil.which("restic")
        repo = self._restic(dumps, program) if program else None
        return DemoBackupPaths(dumps, repo, os.path.abspath(program) if repo and program else "")

    def _restic(self, dumps: Path, program: str) -> Path | None:
        repo = self.folder / "restic-repo"
        password = secrets.token_urlsafe(18)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.folder),
            "RESTIC_PASSWORD": password,
            "RESTIC_CACHE_DIR": str(self.folder / "restic-cache"),
        }
        try:
            for argv in (
                [program, "init", "--repo", str(repo)],
                [program, "backup", "--repo", str(repo), "--tag", "ris-db", str(dumps)],
            ):
                subprocess.run(
                    argv, env=env, capture_output=True, timeout=RESTIC_TIMEOUT, check=True
                )
        except (OSError, subprocess.SubprocessError):
            return None
        # The engine runs in this process: it finds the password where a headless server's
        # service unit would put it.
        os.environ[env_name(SECRET)] = password
        return repo

    def stop(self) -> None:
        os.environ.pop(env_name(SECRET), None)
