"""The engine's own logging, kept quiet unless asked for."""

from __future__ import annotations

import logging

from ..settings import Settings

__all__ = ["quiet_engine_logs"]


def quiet_engine_logs(settings: Settings) -> None:
    """The engine logs every message (payload included) at INFO; keep that for DEBUG."""
    if settings.log_level != "DEBUG":
        for name in ("autogen_core", "autogen_core.events"):
            logging.getLogger(name).setLevel(logging.WARNING)
