"""The stores' JSON codec reads and writes what the standard library did, faster."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agenthost.state.codec import decode, encode


def test_it_round_trips_a_state_like_json_does() -> None:
    state = {"messages": [{"role": "user", "content": "héllo \u2028"}], "n": 3, "x": 1.5, "ok": True, "none": None}
    assert decode(encode(state)) == json.loads(json.dumps(state)) == state
    int_keys: Any = {1: "a"}  # an agent's state may have them
    assert decode(encode(int_keys)) == json.loads(json.dumps(int_keys)) == {"1": "a"}  # keys become strings


def test_it_reads_what_the_standard_library_wrote() -> None:
    legacy = json.dumps({"loss": float("nan"), "cap": float("inf"), "tuple": (1, 2)})
    decoded = decode(legacy)
    assert decoded["cap"] == float("inf")
    assert decoded["loss"] != decoded["loss"]  # NaN
    assert decoded["tuple"] == [1, 2]
    assert decode(legacy.encode())["tuple"] == [1, 2]  # bytes too (Redis hands back bytes)


def test_what_json_cannot_hold_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        encode({"x": object()})
