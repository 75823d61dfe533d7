"""The event loop agenthost's own processes run on (``serve``, ``worker``, ``grpc-host``).

``AGENTHOST_LOOP=auto`` (the default) runs them on uvloop when it is installed (it is a dependency
on Linux and macOS) and on asyncio's loop otherwise; ``uvloop`` insists on it, ``asyncio`` never
uses it. uvloop does the per-token work of a stream (a socket read, a publish, a socket write, the
timers and callbacks between them) in C; ``bench/bench_real_path.py`` measures the difference.
An embedding program keeps its own loop: :class:`~agenthost.AgentHost` runs on whatever loop it
is started from.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, Literal, TypeVar

__all__ = ["LoopChoice", "loop_name", "run"]

LoopChoice = Literal["auto", "uvloop", "asyncio"]
T = TypeVar("T")


def run(main: Coroutine[Any, Any, T], choice: LoopChoice = "auto") -> T:
    """``asyncio.run(main)`` on the loop ``choice`` names."""
    if choice != "asyncio":
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                main.close()
                raise RuntimeError("AGENTHOST_LOOP=uvloop, but uvloop is not installed (pip install uvloop)") from None
        else:
            return uvloop.run(main)
    return asyncio.run(main)


def loop_name() -> str:
    """``uvloop`` or ``asyncio``: the running loop's package."""
    return type(asyncio.get_running_loop()).__module__.split(".")[0]
