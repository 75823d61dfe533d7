"""The roles settle their startup heap: survivors of a collection leave the collector's later passes."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from agenthost.roles.heap import settle_startup_heap


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # give the test process its collector back


@pytest.mark.usefixtures("unfrozen")
def test_startup_objects_leave_the_full_collections() -> None:
    survivor = {"kept": [object() for _ in range(1_000)]}
    tracked_before = len(gc.get_objects())
    frozen = settle_startup_heap()
    assert frozen == gc.get_freeze_count() >= tracked_before // 2
    assert len(gc.get_objects()) < tracked_before // 10  # a full pass now walks almost nothing
    assert not any(obj is survivor for obj in gc.get_objects())
    assert survivor["kept"]  # frozen, not freed
