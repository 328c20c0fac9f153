"""pacs-tui: a terminal supervisor for a hospital's PACS/RIS."""

__version__ = "0.3.0"
