"""Placement as a pure function of the media nodes' loads: no Redis, no processes."""

from __future__ import annotations

import pytest

from access.models import ClassRole, RoomMode
from control.placement import (
    Arrivals,
    NodeLoad,
    NoMediaNode,
    Sent,
    may_be_relayed,
    select_node,
    select_viewer_node,
)


def test_the_node_with_the_smallest_share_of_its_capacity_in_use_takes_the_class() -> None:
    nodes = [NodeLoad("a", 50, 100, 1), NodeLoad("b", 30, 40, 1), NodeLoad("c", 20, 100, 5)]
    assert select_node(nodes) == "c"  # 20 % beats 50 % and 75 %, rooms notwithstanding


def test_ties_go_to_the_fewest_rooms_then_the_smallest_id() -> None:
    assert select_node([NodeLoad("a", 10, 100, 3), NodeLoad("b", 10, 100, 2)]) == "b"
    assert select_node([NodeLoad("b", 10, 100, 2), NodeLoad("a", 10, 100, 2)]) == "a"


def test_a_full_node_takes_no_class_and_with_none_free_there_is_no_node() -> None:
    assert select_node([NodeLoad("a", 100, 100, 1), NodeLoad("b", 99, 100, 9)]) == "b"
    with pytest.raises(NoMediaNode, match="no live media node has room"):
        select_node([NodeLoad("a", 100, 100, 1), NodeLoad("b", 7, 0, 0)])
    with pytest.raises(NoMediaNode):
        select_node([])


def test_people_expected_count_until_they_come_or_the_settling_time_passes() -> None:
    arrivals = Arrivals(settling=120.0)
    arrivals.placed("a", 1, 30, now=0.0)
    arrivals.placed("a", 2, 0, now=10.0)  # an empty class still expects one
    present = {1: 12}
    assert arrivals.coming("a", 60.0, lambda c: present.get(c, 0)) == 18 + 1
    present[1] = 40  # more came than expected: nobody is still to come, none negative
    assert arrivals.coming("a", 60.0, lambda c: present.get(c, 0)) == 1
    assert arrivals.coming("a", 125.0, lambda c: 0) == 1  # the first class has settled
    assert arrivals.coming("a", 131.0, lambda c: 0) == 0
    assert arrivals.coming("b", 0.0, lambda c: 0) == 0


def test_a_viewer_goes_to_the_origin_then_its_relays_then_a_new_relay() -> None:
    origin = NodeLoad("o", 50, 100, 1)
    relay, idle = NodeLoad("r", 10, 100, 1), NodeLoad("i", 0, 100, 0)
    assert select_viewer_node(origin, [relay], [idle]) == "o"  # the origin has room
    full = NodeLoad("o", 90, 100, 1)  # 90 %: the rest is kept for publishers and rejoins
    assert select_viewer_node(full, [relay], [idle]) == "r"
    assert select_viewer_node(full, [relay], [idle], fill=0.95) == "o"
    # Of the class's relays, the least loaded share with room; a full one takes nobody.
    r2 = NodeLoad("r2", 20, 400, 1)
    assert select_viewer_node(full, [relay, r2], [idle]) == "r2"
    assert select_viewer_node(full, [NodeLoad("r", 100, 100, 1)], [idle]) == "i"
    # No relay yet: a new one, chosen as a class's node is.
    assert select_viewer_node(full, [], [NodeLoad("a", 30, 100, 0), idle]) == "i"
    with pytest.raises(NoMediaNode):
        select_viewer_node(full, [NodeLoad("r", 100, 100, 1)], [NodeLoad("a", 5, 5, 0)])


def test_a_viewer_weighs_the_other_classes_coming_not_its_own() -> None:
    """A lecture of 300 placed on a node of 200 fills its origin with its first viewers, not
    with the 300 it expects: its own people still to come are not counted against it."""
    arrivals = Arrivals(settling=120.0)
    arrivals.placed("a", 1, 300, now=0.0)
    arrivals.placed("a", 2, 40, now=0.0)
    assert arrivals.coming("a", 1.0, lambda c: 0) == 340
    assert arrivals.coming("a", 1.0, lambda c: 0, but=1) == 40
    assert arrivals.coming("a", 1.0, lambda c: 0, but=2) == 300


def test_people_sent_count_until_a_later_heartbeat_or_the_window_passes() -> None:
    sent = Sent(window=10.0)
    for at in (100.0, 101.0, 102.0):
        sent.note("a", at)
    sent.note("b", 102.0)
    assert (sent.count("a", 105.0, seen=99.0), sent.count("b", 105.0, seen=99.0)) == (3, 1)
    assert sent.count("c", 105.0, seen=0.0) == 0
    assert sent.count("a", 105.0, seen=101.5) == 1  # the heartbeat of 101.5 shows two of them
    assert sent.count("a", 111.5, seen=0.0) == 1  # no heartbeat since: two counted too long
    assert sent.count("a", 112.5, seen=0.0) == 0


@pytest.mark.parametrize(
    ("role", "mode", "relayed"),
    [
        (ClassRole.LEARNER, RoomMode.LECTURE, True),
        (ClassRole.GUEST, RoomMode.LECTURE, True),
        (ClassRole.OBSERVER, RoomMode.LECTURE, True),
        (ClassRole.HOST, RoomMode.LECTURE, False),
        (ClassRole.PRESENTER, RoomMode.LECTURE, False),
        (ClassRole.LEARNER, RoomMode.SEMINAR, False),  # learners publish themselves there
        (ClassRole.OBSERVER, RoomMode.SEMINAR, False),
    ],
)
def test_only_a_lectures_watchers_may_be_served_by_a_relay(
    role: ClassRole, mode: RoomMode, relayed: bool
) -> None:
    assert may_be_relayed(role, mode) is relayed
