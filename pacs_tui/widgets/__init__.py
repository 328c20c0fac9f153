"""Reusable widgets of the UI: the status header, status-coloured tables (a light one for lists
that grow at the top), area tiles, charts.

Widgets take plain values (states, strings, callables); they never reach into the engine.
"""

from __future__ import annotations

from pacs_tui.widgets.area_tile import AreaTile
from pacs_tui.widgets.header import StatusHeader
from pacs_tui.widgets.light_table import LightTable
from pacs_tui.widgets.metric_chart import MetricChart
from pacs_tui.widgets.status_table import StatusTable

__all__ = ["AreaTile", "LightTable", "MetricChart", "StatusHeader", "StatusTable"]
