"""Where a DICOM node answers, as a ``[[mirror]]`` pair or the ``[dr]`` drill names it (from
its ``[[dicom.node]]``). Kept apart from the DICOM client so that the config does not load
pynetdicom."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pacs_tui import config_reader as cv
from pacs_tui.config_reader import Reader
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


def link_node(reader: Reader, key: str, node_id: str, sections: Mapping[str, Any]) -> Node | None:
    """The ``[[dicom.node]]`` named ``node_id`` (for ``key`` of a section that names one), or a
    problem on ``reader`` naming the ids there are."""
    nodes = {n.id: n for n in getattr(sections.get("dicom"), "nodes", ())}
    found = nodes.get(node_id)
    if found is None:
        known = ", ".join(sorted(nodes)) or "none configured"
        hint = cv.did_you_mean(node_id, tuple(nodes))
        reader.problem(key, node_id, f"the id of a [[dicom.node]]{hint} ({known})")
        return None
    return Node(found.id, found.host, found.port, found.aet, found.calling_aet)
