"""structlog for the worker and the CLI: one line per event, with the workflow or activity it concerns."""

from __future__ import annotations

import logging
import os
import sys

import structlog
import temporalio.activity
import temporalio.workflow

KEPT = ("workflow_id", "run_id", "workflow_run_id", "workflow_type", "activity_id", "activity_type", "attempt",
        "update_name")


def _temporal_context(_, __, event: dict) -> dict:
    """Lift the ids the Temporal SDK puts in `extra` (temporal_workflow, temporal_activity) to top-level keys."""
    for key in ("temporal_workflow", "temporal_activity"):
        ctx = event.pop(key, None)
        if isinstance(ctx, dict):
            event.update({k: ctx[k] for k in KEPT if k in ctx and k not in event})
    return event


def configure(level: str | None = None, fmt: str | None = None) -> None:
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
