"""Where a DICOM node answers, as a ``[[mirror]]`` pair or the ``[dr]`` drill names it (from
its ``[[dicom.node]]``). Kept apart from the DICOM client so that the config does not load
pynetdicom."""

from __future__ import annotations

from dataclasses import dataclass

from pacs_tui.visible import host_port


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    host: str
    port: int
    aet: str
    calling_aet: str

    @property
    def where(self) -> str:
        return f"{self.id} ({self.aet}@{host_port(self.host, self.port)})"
