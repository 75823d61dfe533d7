"""Keep the garbage collector's full passes short in long-running roles.

A role process holds ~150,000 objects from startup alone (modules, pydantic
schemas, AutoGen's types) that live until it exits. CPython's full (generation
2) collection walks all of them every time: measured on the bridge under 50
streaming clients, each pass stopped the event loop ~85 ms, four times in 6 s,
and every stream waited. :func:`settle_startup_heap` collects once, then moves
everything alive out of the collector's reach (:func:`gc.freeze`): later full
passes walk only what serving created (~18 ms here).

Called by the processes agenthost owns (``serve``, ``worker``, ``grpc-host``)
once they are ready; an embedding program decides for its own process.
"""

from __future__ import annotations

import gc
import logging

__all__ = ["settle_startup_heap"]

logger = logging.getLogger(__name__)


def settle_startup_heap() -> int:
    """Collect, then freeze the survivors out of later collections; returns how many were frozen."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    logger.debug("froze %d startup objects out of the garbage collector's passes", frozen)
    return frozen
