"""What ``parse_config`` says is wrong with a config text: the config tests' one helper."""

from __future__ import annotations

import pytest

from pacs_tui.config import ConfigError, parse_config


def problems(text: str) -> list[str]:
    """Each problem ``parse_config`` raises for ``text``, as the user reads it (it must raise)."""
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    return [str(p) for p in info.value.problems]
