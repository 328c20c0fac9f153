"""UI tests: Pilot runs against the demo hospital and deterministic snapshots."""
