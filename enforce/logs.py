"""structlog for the worker and the CLI: one line per event, with the workflow or activity it concerns.

The worker calls `configure`. The CLI calls `defer`: the same configuration, made when the first line is
logged (structlog, with the Rich and Pygments it loads, and the SDK's workflow module cost a command that
logs nothing a fifth of a second to start); its own structlog lines come through `get_logger`.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

KEPT = (
    "workflow_id",
    "run_id",
    "workflow_run_id",
    "workflow_type",
    "activity_id",
    "activity_type",
    "attempt",
    "update_name",
)


def _temporal_context(_, __, event: dict) -> dict:
    """Lift the ids the Temporal SDK puts in `extra` (temporal_workflow, temporal_activity) to top-level keys."""
    for key in ("temporal_workflow", "temporal_activity"):
        ctx = event.pop(key, None)
        if isinstance(ctx, dict):
            event.update({k: ctx[k] for k in KEPT if k in ctx and k not in event})
    return event


def configure(level: str | None = None, fmt: str | None = None) -> None:
    import structlog
    import temporalio.activity
    import temporalio.workflow

    global _deferred
    _deferred = None
    level = (level or os.environ.get("ENFORCE_LOG_LEVEL", "INFO")).upper()
    fmt = fmt or os.environ.get("ENFORCE_LOG_FORMAT") or ("console" if sys.stderr.isatty() else "json")
    renderer = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        _temporal_context,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    # The ids travel as fields of the line, not appended to its message.
    temporalio.workflow.logger.workflow_info_on_message = False
    temporalio.activity.logger.activity_info_on_message = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


_deferred: tuple[str | None, str | None] | None = None  # what `defer` was given, until the first line


class _Deferred(logging.Handler):
    """The root's handler until something logs: then `configure`, and the line goes to its handler."""

    def emit(self, record: logging.LogRecord) -> None:
        ensure()
        for handler in logging.getLogger().handlers:
            if handler is not self and record.levelno >= handler.level:
                handler.handle(record)


def defer(level: str | None = None, fmt: str | None = None) -> None:
    """`configure(level, fmt)`, made when a first line reaches the root logger or `get_logger` is called.
    Records below `level` are dropped at once, as after `configure`."""
    global _deferred
    _deferred = (level, fmt)
    root = logging.getLogger()
    root.handlers[:] = [_Deferred()]
    root.setLevel((level or os.environ.get("ENFORCE_LOG_LEVEL", "INFO")).upper())


def ensure() -> None:
    """The configuration `defer` put off, made now (nothing if none is pending)."""
    if _deferred is not None:
        configure(*_deferred)


def get_logger(name: str) -> Any:
    """A structlog logger, the configuration put off by `defer` made first."""
    ensure()
    import structlog

    return structlog.get_logger(name)
