"""Placement as a pure function of the media nodes' loads: no Redis, no processes."""

from __future__ import annotations

import pytest

from control.placement import Arrivals, NodeLoad, NoMediaNode, select_node


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
