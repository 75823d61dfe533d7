"""``AGENTHOST_LOOP``: which event loop agenthost's own processes run on."""

from __future__ import annotations

import sys

import pytest

from agenthost.core import event_loop


async def _name() -> str:
    return event_loop.loop_name()


def test_auto_is_uvloop_when_installed_and_asyncio_when_told() -> None:
    assert event_loop.run(_name()) == "uvloop"
    assert event_loop.run(_name(), "uvloop") == "uvloop"
    assert event_loop.run(_name(), "asyncio") == "asyncio"


def test_without_uvloop_auto_falls_back_and_uvloop_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop raises ImportError
    assert event_loop.run(_name()) == "asyncio"
    with pytest.raises(RuntimeError, match="AGENTHOST_LOOP=uvloop, but uvloop is not installed"):
        event_loop.run(_name(), "uvloop")
