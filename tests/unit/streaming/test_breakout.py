"""Breakout groups' rules: the split (at random, by hand, a saved list), where a late learner
goes, the time (added, over), and the protocol's refusals of bad input."""

from __future__ import annotations

import json
import random

import pytest

from streaming.breakout import (
    Breakout,
    BreakoutRefused,
    LatePolicy,
    SplitDraft,
    plan,
    split_at_random,
)
from streaming.protocol import ProtocolError, parse_client_message

pytestmark = pytest.mark.timeout(10)


def draft(
    count: int | None = 2,
    groups: tuple[tuple[int, ...], ...] = (),
    seconds: int = 600,
    late: LatePolicy = LatePolicy.PLACE,
) -> SplitDraft:
    return SplitDraft(count, groups, seconds, late)


def test_a_random_split_deals_everyone_once_into_groups_of_nearly_equal_size() -> None:
    learners = list(range(100, 113))  # 13 into 4: 4, 3, 3, 3
    groups = split_at_random(learners, 4, random.Random(7))
    assert sorted(u for g in groups for u in g) == learners
    assert sorted(len(g) for g in groups) == [3, 3, 3, 4]
    again = split_at_random(learners, 4, random.Random(8))
    assert groups != again  # a shuffle, not the roster's order


def test_a_split_by_hand_may_name_absent_learners_but_none_twice() -> None:
    groups = plan(draft(None, ((1, 2), (3, 9))), [1, 2, 3], random.Random(1))
    assert groups == [[1, 2], [3, 9]]
    with pytest.raises(BreakoutRefused, match="two groups"):
        plan(draft(None, ((1, 2), (2, 3))), [1, 2, 3], random.Random(1))
    with pytest.raises(BreakoutRefused, match="None of the students"):
        plan(draft(None, ((7,), (8,))), [1, 2, 3], random.Random(1))
    with pytest.raises(BreakoutRefused, match="2 to 20 groups"):
        plan(draft(None, ((1, 2, 3),)), [1, 2, 3], random.Random(1))


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        (draft(count=1), "bad_breakout"),
        (draft(count=21), "bad_breakout"),
        (draft(count=4), "too_few_learners"),
        (draft(seconds=59), "bad_breakout"),
        (draft(seconds=3 * 3600 + 1), "bad_breakout"),
    ],
)
def test_splits_the_rules_refuse_say_why(bad: SplitDraft, code: str) -> None:
    with pytest.raises(BreakoutRefused) as refused:
        plan(bad, [1, 2, 3], random.Random(1))
    assert refused.value.code == code


def test_a_late_learner_goes_to_the_smallest_group_or_waits_as_the_teacher_chose() -> None:
    b = Breakout("b", [[1, 2], [3]], LatePolicy.PLACE, 0.0, 600.0)
    assert b.place(1) == 0  # one's own group, always (a rejoin)
    assert b.place(4, present=[1, 2, 3]) == 1  # the group with fewer present
    assert b.place(5, present=[1, 2, 3, 4]) == 0  # equal: the first
    assert b.groups == [[1, 2, 5], [3, 4]] and b.group_of(4) == 1
    waits = Breakout("w", [[1], [2]], LatePolicy.WAIT, 0.0, 600.0)
    assert waits.place(3, present=[1, 2]) is None and waits.place(2) == 1


def test_a_learner_the_teacher_moved_keeps_the_move_after_a_rejoin() -> None:
    b = Breakout("b", [[1, 2], [3, 4]], LatePolicy.PLACE, 0.0, 600.0)
    b.move(2, 1)
    assert b.groups == [[1], [3, 4, 2]] and b.place(2) == 1
    b.move(3, None)  # to the main room: not placed again when they come back
    assert b.groups == [[1], [4, 2]] and b.place(3, present=[1, 4, 2]) is None
    b.move(3, 0)
    assert b.place(3) == 0 and b.in_main == set()
    with pytest.raises(BreakoutRefused):
        b.move(1, 7)


def test_time_is_added_and_runs_out_on_the_given_clock() -> None:
    b = Breakout("b", [[1], [2]], LatePolicy.WAIT, 1000.0, 1600.0)
    assert b.remaining(1100.0) == 500.0 and not b.due(1599.9) and b.due(1600.0)
    b.add_time(120, now=1500.0)
    assert b.ends_at == 1720.0 and not b.due(1600.0)
    b.add_time(60, now=1800.0)  # added after the end passed: counted from now
    assert b.ends_at == 1860.0
    with pytest.raises(BreakoutRefused, match="Add 1 to 3600"):
        b.add_time(0, now=1800.0)
    with pytest.raises(BreakoutRefused) as unknown:
        b.check_group(2)
    assert unknown.value.code == "no_such_group" and "group 3" in unknown.value.message
    assert b.close() and not b.close() and b.remaining(1800.0) == 0.0 and not b.due(9999.0)
    with pytest.raises(BreakoutRefused, match="closed"):
        b.add_time(60, now=1800.0)


def message(kind: str, **fields: object) -> str:
    return json.dumps({"v": 1, "type": kind, **fields})


def test_the_protocol_takes_a_split_by_count_or_by_lists() -> None:
    m = parse_client_message(message("open_breakout", count=3, seconds=300, late="place"))
    assert m.breakout == SplitDraft(3, (), 300, LatePolicy.PLACE)
    m = parse_client_message(message("open_breakout", groups=[[1, 2], [3]], seconds=300))
    assert m.breakout == SplitDraft(None, ((1, 2), (3,)), 300, LatePolicy.WAIT)
    m = parse_client_message(message("open_breakout", count=2, seconds=300, save=True))
    assert m.breakout is not None and m.breakout.save
    assert parse_client_message(message("move_to_group", group=None)).group is None
    moved = parse_client_message(message("move_to_group", group=1, participant_id="p1"))
    assert (moved.group, moved.participant_id) == (1, "p1")
    assert parse_client_message(message("add_time", seconds=60)).seconds == 60
    assert parse_client_message(message("broadcast", text=" Back in 2 ")).text == "Back in 2"


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"type": "open_breakout", "seconds": 300}, "either 'count'"),
        ({"type": "open_breakout", "count": 2, "groups": [[1]], "seconds": 300}, "either"),
        ({"type": "open_breakout", "count": "2", "seconds": 300}, "'count'"),
        ({"type": "open_breakout", "groups": [["a"]], "seconds": 300}, "'groups'"),
        ({"type": "open_breakout", "count": 2, "seconds": True}, "'seconds'"),
        ({"type": "open_breakout", "count": 2, "seconds": 60, "late": "never"}, "'late'"),
        ({"type": "open_breakout", "count": 2, "seconds": 60, "save": "yes"}, "'save'"),
        ({"type": "move_to_group", "group": "two"}, "'group'"),
        ({"type": "add_time", "seconds": 1.5}, "'seconds'"),
        ({"type": "broadcast", "text": "  "}, "non-empty"),
        ({"type": "broadcast", "text": "x" * 501}, "at most 500"),
    ],
)
def test_bad_breakout_messages_are_refused_with_a_sentence(
    fields: dict[str, object], says: str
) -> None:
    with pytest.raises(ProtocolError) as refused:
        parse_client_message(json.dumps({"v": 1, **fields}))
    assert refused.value.code == "bad_message" and says in refused.value.message
