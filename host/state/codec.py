"""How every store writes a state: JSON, by orjson (a state is saved after every turn: this is on the hot path).

``encode`` accepts what :func:`json.dumps` does for a state (dicts, lists, strings, numbers, booleans,
None; non-string keys become strings) and ``decode`` also reads what earlier versions wrote with the
standard library (including its ``NaN`` and ``Infinity``, which strict JSON parsers refuse).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import orjson

__all__ = ["decode", "encode"]


def encode(state: Mapping[str, Any]) -> str:
    """``state`` as a JSON text (raises ``TypeError`` on a value JSON cannot hold)."""
    return orjson.dumps(state, option=orjson.OPT_NON_STR_KEYS).decode()


def decode(raw: str | bytes) -> dict[str, Any]:
    """The state a JSON text holds."""
    try:
        return dict(orjson.loads(raw))
    except orjson.JSONDecodeError:  # written by json.dumps: NaN, Infinity
        return dict(json.loads(raw))
