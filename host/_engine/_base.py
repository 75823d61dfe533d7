"""The helpers every engine patch shares: loud attribute access, and the pinned engine version."""

from __future__ import annotations

from typing import Any

import autogen_core

__all__ = ["ENGINE_VERSION", "attr"]

ENGINE_VERSION = "0.7.5"


def attr(target: Any, name: str) -> Any:
    try:
        return getattr(target, name)
    except AttributeError as exc:  # the pinned engine moved: fail loudly, not subtly
        raise RuntimeError(
            f"{type(target).__name__} has no {name!r}; agenthost expects autogen-core {ENGINE_VERSION}, "
            f"found {autogen_core.__version__}"
        ) from exc
