"""Deterministic orchestration: the investigation workflows. No I/O here; side effects are activities."""
