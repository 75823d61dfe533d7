"""The signals every process role stops on."""

from __future__ import annotations

import asyncio
import signal

__all__ = ["stop_event"]


def stop_event() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT (call it inside the running loop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop
