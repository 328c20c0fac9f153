"""The demo's filling archive: a folder on a small budget that a thread fills with made-up
"studies" a few seconds apart, and purges (the oldest half) once it is nearly full, as an
archive's auto-delete would. Its volume (``budget``) climbs to WARN and CRIT, on the
percentage used and on the time left, then drops back after the purge.

It writes a log beside the folder as Orthanc would (``archive.log``): a line a study, an error
line for about one study in :data:`ERROR_EVERY` (a failed C-STORE, with a made-up patient the
log tail must mask), and the log rotated (renamed to ``archive.log.1``) at each purge."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

#: The demo archive's budget, and a study's size and pace: full in about 20 minutes.
BUDGET = 64 * 2**20
STUDY_BYTES = 96 * 1024
EVERY_SECONDS = 2.0
#: Over this much of the budget the oldest half of the studies goes.
PURGE_AT = 0.97
#: About one study in this many fails to store (an error line in the log).
ERROR_EVERY = 15
_PATIENTS = ("MARTIN^PAUL", "DUBOIS^CLAIRE", "BERNARD^LUC")


class DemoArchive:
    """Fills ``folder`` until :meth:`stop`; nothing leaves the folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.log = folder.with_name("archive.log")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._count = 0

    def start(self) -> Path:
        # A few studies already, so the volume has something to show at once.
        self.folder.mkdir(parents=True, exist_ok=True)
        for _ in range(int(BUDGET * 0.5 / STUDY_BYTES)):
            self._add()
        self._thread = threading.Thread(target=self._run, name="demo-archive", daemon=True)
        self._thread.start()
        return self.folder

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(EVERY_SECONDS):
            try:
                self._add()
                if self._used() > PURGE_AT * BUDGET:
                    self._purge()
            except OSError:
                return  # the demo's folder went away (the demo is ending)

    def _add(self) -> None:
        self._count += 1
        study = self.folder / f"study-{self._count:06d}.dcm"
        stamp = time.strftime("%m%d %H:%M:%S")
        if self._count % ERROR_EVERY == 0:
            patient = _PATIENTS[self._count % len(_PATIENTS)]
            self._log(
                f"E{stamp}.000000 StoreScp.cpp:96] C-STORE of study {self._count} for "
                f"{patient} (PatientID={900000 + self._count}) failed: Out of resources"
            )
            return
        study.write_bytes(b"DICM" + b"\0" * (STUDY_BYTES - 4))
        self._log(f"I{stamp}.000000 StoreScp.cpp:90] Stored study {self._count}")

    def _log(self, line: str) -> None:
        with self.log.open("a") as f:
            f.write(line + "\n")

    def _used(self) -> int:
        return sum(entry.stat().st_blocks * 512 for entry in os.scandir(self.folder))

    def _purge(self) -> None:
        studies = sorted(p for p in self.folder.iterdir() if p.name.startswith("study-"))
        for study in studies[: len(studies) // 2]:
            study.unlink(missing_ok=True)
        if self.log.exists():  # rotated, as logrotate would
            self.log.replace(self.log.with_name("archive.log.1"))
