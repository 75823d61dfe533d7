"""The host's placement as pure logic: spread, stickiness, joins and leaves, drain, stateless, bounds."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from agenthost.roles.placement import Placement

TYPE = "assistant"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _placement(
    *clients: str, ttl: float = 100.0, max_entries: int = 1000, exclusive_prefixes: tuple[str, ...] = ()
) -> tuple[Placement, set[str], Clock]:
    live: set[str] = set()
    clock = Clock()
    placement = Placement(
        ttl=ttl, live=live.__contains__, clock=clock, max_entries=max_entries, exclusive_prefixes=exclusive_prefixes
    )
    for client in clients:
        _join(placement, live, client)
    return placement, live, clock


def _join(placement: Placement, live: set[str], client: str, agent_type: str = TYPE) -> None:
    live.add(client)
    assert placement.join(agent_type, client) is None


def _turn(placement: Placement, key: str) -> str:
    """One request to ``key`` from start to end; returns the client that ran it."""
    client = placement.place(TYPE, key)
    assert client is not None
    placement.begin(TYPE, key, client)
    placement.end(TYPE, key, client)
    return client


def test_no_client_no_place() -> None:
    placement, _, _ = _placement()
    assert placement.place(TYPE, "c1") is None
    assert placement.owner(TYPE, "c1") is None


def test_sixty_conversations_spread_over_three_and_stay() -> None:
    placement, _, _ = _placement("w1", "w2", "w3")
    owners = {f"c{i}": _turn(placement, f"c{i}") for i in range(60)}
    assert min(Counter(owners.values()).values()) >= 16  # the load cap: nobody above ceil(1.1 * 60 / 3) = 22
    assert max(Counter(owners.values()).values()) <= 22
    for _ in range(3):
        assert all(_turn(placement, key) == owner for key, owner in owners.items())


@pytest.mark.parametrize("seed", range(20))
def test_the_load_cap_holds_for_any_keys(seed: int) -> None:
    rng = random.Random(seed)
    placement, _, _ = _placement("w1", "w2", "w3")
    spread = Counter(_turn(placement, f"{rng.random()}") for _ in range(60))
    assert sorted(spread.values())[0] >= 16


def test_a_join_moves_nothing_and_takes_new_conversations() -> None:
    placement, live, _ = _placement("w1", "w2")
    owners = {f"c{i}": _turn(placement, f"c{i}") for i in range(40)}
    _join(placement, live, "w3")
    assert all(_turn(placement, key) == owner for key, owner in owners.items())
    new = Counter(_turn(placement, f"n{i}") for i in range(30))
    assert new["w3"] >= 20  # below its share, the newcomer takes most new conversations


def test_a_leave_moves_only_the_leavers_conversations() -> None:
    placement, live, _ = _placement("w1", "w2", "w3")
    owners = {f"c{i}": _turn(placement, f"c{i}") for i in range(60)}
    live.discard("w2")  # the connection is gone first, then the servicer reports the leave
    assert placement.leave("w2") == [TYPE]
    after = {key: _turn(placement, key) for key in owners}
    assert all(after[key] == owner for key, owner in owners.items() if owner != "w2")
    assert all(after[key] in {"w1", "w3"} for key, owner in owners.items() if owner == "w2")


def test_a_dead_client_is_never_chosen_even_before_its_leave_is_reported() -> None:
    placement, live, _ = _placement("w1", "w2")
    owners = {f"c{i}": _turn(placement, f"c{i}") for i in range(10)}
    live.discard("w1")
    assert {_turn(placement, key) for key in owners} == {"w2"}


def test_a_busy_conversation_stays_past_its_ttl_and_an_idle_one_moves_after() -> None:
    placement, _, clock = _placement("w1", "w2", ttl=10)
    busy = placement.place(TYPE, "busy")
    assert busy is not None
    placement.begin(TYPE, "busy", busy)
    _turn(placement, "idle")
    clock.now = 50
    _turn(placement, "new")  # a placement ages the directory out
    assert placement.owner(TYPE, "busy") == busy
    assert placement.owner(TYPE, "idle") is None  # forgotten: placed afresh on its next turn
    assert placement.snapshot()["conversations"] == 2


def test_the_directory_is_bounded() -> None:
    placement, _, _ = _placement("w1", "w2", max_entries=50)
    for i in range(500):
        _turn(placement, f"c{i}")
    assert placement.snapshot()["conversations"] == 50


def test_drain_releases_idle_conversations_now_and_busy_ones_after_their_turn() -> None:
    placement, _, _ = _placement("w1", "w2")
    owners = {f"c{i}": _turn(placement, f"c{i}") for i in range(20)}
    on_w1 = [key for key, owner in owners.items() if owner == "w1"]
    busy = on_w1[0]
    placement.begin(TYPE, busy, "w1")
    assert placement.drain("w1") == len(on_w1) - 1
    assert placement.inflight("w1") == 1
    assert placement.place(TYPE, busy) == "w1"  # its next turn waits behind the one in flight, on the same worker
    assert all(_turn(placement, key) == "w2" for key in on_w1[1:])
    assert all(_turn(placement, f"n{i}") == "w2" for i in range(10))
    placement.end(TYPE, busy, "w1")
    assert placement.inflight("w1") == 0
    assert _turn(placement, busy) == "w2"


def test_when_every_client_drains_work_still_has_a_place() -> None:
    placement, _, _ = _placement("w1")
    placement.drain("w1")
    assert placement.place(TYPE, "c1") == "w1"


def test_stateless_requests_spread_by_load_and_are_forgotten_after() -> None:
    placement, _, _ = _placement("w1", "w2", "w3")
    assert Counter(_turn(placement, f"~r{i}") for i in range(30)) == {"w1": 10, "w2": 10, "w3": 10}
    held: list[str] = []
    for i in range(3):
        client = placement.place(TYPE, f"~h{i}")
        assert client is not None
        placement.begin(TYPE, f"~h{i}", client)
        held.append(client)
    assert sorted(held) == ["w1", "w2", "w3"]  # least in flight first
    assert placement.owner(TYPE, "~h0") == held[0]  # a cancellation finds it while in flight
    placement.end(TYPE, "~h0", held[0])
    assert placement.owner(TYPE, "~h0") is None
    assert placement.snapshot()["conversations"] == 0  # no directory entries for stateless requests


def test_an_exclusive_type_has_one_client() -> None:
    placement, live, _ = _placement(exclusive_prefixes=("agenthost.sink.",))
    _join(placement, live, "bridge-a", "agenthost.sink.a")
    live.add("bridge-b")
    assert placement.join("agenthost.sink.a", "bridge-b") == "bridge-a"
    assert placement.place("agenthost.sink.a", "sink") == "bridge-a"
    assert placement.snapshot()["conversations"] == 0
    live.discard("bridge-a")  # gone (its leave not reported yet): the new one may take the type
    assert placement.join("agenthost.sink.a", "bridge-b") is None
    assert placement.clients("agenthost.sink.a") == ["bridge-b"]


def test_a_request_ending_after_its_client_left_is_harmless() -> None:
    placement, live, _ = _placement("w1", "w2")
    owner = placement.place(TYPE, "c1")
    assert owner is not None
    placement.begin(TYPE, "c1", owner)
    live.discard(owner)
    placement.leave(owner)
    placement.end(TYPE, "c1", owner)
    assert placement.inflight(owner) == 0
    assert placement.place(TYPE, "c1") not in {owner, None}


def test_one_owner_per_conversation_while_a_request_is_in_flight_under_random_churn() -> None:
    """Property: whatever joins, leaves and drains happen, a conversation with a request in flight
    is never placed on a second client."""
    rng = random.Random(7)
    placement, live, clock = _placement("w0", "w1", ttl=5)
    inflight: dict[str, str] = {}
    names = iter(f"w{i}" for i in range(2, 1000))
    for _ in range(5000):
        clock.now += rng.random() * 0.1
        key = f"c{rng.randrange(40)}"
        action = rng.random()
        if action < 0.02:
            _join(placement, live, next(names))
        elif action < 0.03 and len(live) > 1:
            gone = rng.choice(sorted(live))
            live.discard(gone)
            placement.leave(gone)
            inflight = {k: c for k, c in inflight.items() if c != gone}
        elif action < 0.04:
            placement.drain(rng.choice(sorted(live)))
        elif key in inflight and action < 0.5:
            placement.end(TYPE, key, inflight.pop(key))
        else:
            client = placement.place(TYPE, key)
            assert client is not None
            if key in inflight:
                assert client == inflight[key], key
            else:
                placement.begin(TYPE, key, client)
                inflight[key] = client
