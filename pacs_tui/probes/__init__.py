"""The source registry: every source the engine, the config and the screens know.

Adding a source is one module in this package (its :class:`~pacs_tui.source.Source`) and one
line in :data:`SOURCES`; the order here is the order of the Overview's tiles and of the
screens' number keys.
"""

from __future__ import annotations

from pacs_tui.model import TargetKind, TargetState
from pacs_tui.probes import (
    audit_source,
    backup_source,
    command_source,
    dicom_source,
    dr_source,
    hl7_source,
    host_source,
    logtail_source,
    mirror_source,
    storage_source,
)
from pacs_tui.source import MetricSpec, Source, spec_from_name

SOURCES: tuple[Source, ...] = (
    dicom_source.SOURCE,
    command_source.SOURCE,
    hl7_source.SOURCE,
    storage_source.SOURCE,
    host_source.SOURCE,
    logtail_source.SOURCE,
    audit_source.SOURCE,
    backup_source.SOURCE,
    mirror_source.SOURCE,
    dr_source.SOURCE,
)


def source_named(name: str) -> Source | None:
    return next((s for s in SOURCES if s.name == name), None)


def source_of_kind(kind: str) -> Source | None:
    """The source that produces targets of ``kind``."""
    return next((s for s in SOURCES if kind in s.kinds), None)


def metric_spec(kind: str, name: str) -> MetricSpec:
    """The declaration of metric ``name`` of a target of ``kind`` (by its name's unit suffix
    when no source declares it)."""
    source = source_of_kind(kind)
    return source.metric(name) if source is not None else spec_from_name(name)


def headline(state: TargetState) -> tuple[MetricSpec | None, float | None]:
    """The target's headline metric as its source declares it, and its value now (``None``
    when it has none, or no value: never checked, DOWN)."""
    source = source_of_kind(state.target.kind)
    name = source.headline_metric(state) if source is not None else None
    if source is None or name is None:
        return None, None
    return source.metric(name), state.metrics.get(name)


def find_metric(name: str) -> MetricSpec:
    """The declaration of metric ``name`` by whichever source declares it (by its name's unit
    suffix when none does), for places that know a sample's metric but not its target's kind."""
    for source in SOURCES:
        for spec in source.metrics:
            if spec.name == name:
                return spec
    return spec_from_name(name)


__all__ = [
    "SOURCES",
    "TargetKind",
    "find_metric",
    "headline",
    "metric_spec",
    "source_named",
    "source_of_kind",
]
