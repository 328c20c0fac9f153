"""Synthetic, PHI-free DICOM studies for the mirror tests and benchmark: tiny Secondary Capture
instances with made-up UIDs and dates, stored to a real archive over C-STORE. No pytest here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE

from pacs_tui.demo.images import SECONDARY_CAPTURE, tiny_image


@dataclass(frozen=True, slots=True)
class SyntheticStudy:
    uid: str
    date: dt.date
    time: str  # HHMMSS
    instances: int


def studies(
    count: int, days: int, today: dt.date, *, seed: str = "pacs-tui"
) -> list[SyntheticStudy]:
    """``count`` studies spread evenly over ``days`` days ending ``today`` (one instance each
    unless the caller changes it), with UIDs derived from ``seed``."""
    found = []
    for n in range(count):
        day = today - dt.timedelta(days=n % days)
        seconds = (n * 7919) % 86400
        clock = f"{seconds // 3600:02d}{seconds // 60 % 60:02d}{seconds % 60:02d}"
        uid = generate_uid(entropy_srcs=[seed, "study", str(n)])
        found.append(SyntheticStudy(uid, day, clock, 1))
    return found


def instances(study: SyntheticStudy) -> list[Dataset]:
    """The study's instances: 4 by 4 pixels each, a synthetic patient, nothing real."""
    series_uid = generate_uid(entropy_srcs=[study.uid, "series"])
    return [
        tiny_image(
            study_uid=study.uid,
            series_uid=series_uid,
            sop_uid=generate_uid(entropy_srcs=[study.uid, "instance", str(index)]),
            number=index + 1,
            patient_name="SYNTHETIC^STUDY",
            patient_id="SYN" + study.uid[-8:],
            study_date=study.date.strftime("%Y%m%d"),
            study_time=study.time,
        )
        for index in range(study.instances)
    ]


def store(host: str, port: int, aet: str, datasets: Iterable[Dataset], timeout: float = 30) -> int:
    """C-STORE every dataset over one association; how many the archive accepted."""
    ae = AE(ae_title="SYNTHLOAD")
    ae.add_requested_context(SECONDARY_CAPTURE, ExplicitVRLittleEndian)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    assoc = ae.associate(host, port, ae_title=aet)
    if not assoc.is_established:
        raise RuntimeError(f"{aet}@{host}:{port} refused the association")
    stored = 0
    try:
        for ds in datasets:
            status = assoc.send_c_store(ds)
            if getattr(status, "Status", None) == 0:
                stored += 1
    finally:
        assoc.release()
    return stored
