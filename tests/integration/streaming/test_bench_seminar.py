"""``bench.seminar`` keeps working: a tiny seminar, both backends, the table it prints."""

from __future__ import annotations

import pytest

from bench import seminar


def _rows(out: str) -> dict[str, list[str]]:
    return {
        cells[1].strip(): [c.strip() for c in cells[1:-1]]
        for cells in (line.split("|") for line in out.splitlines() if line.startswith("| "))
    }


@pytest.mark.timeout(300)  # two servers and four load processes, on a busy machine
def test_a_tiny_seminar_is_measured_on_sabaq_and_on_stock_aiortc(
    capsys: pytest.CaptureFixture[str],
) -> None:
    seminar.main(
        [
            "--participants", "3",
            "--processes", "2",
            "--window", "3",
            "--warmup", "1",
            "--setup", "60",
            "--stock-setup", "15",
            "--loop-seconds", "1",
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert (
        "A seminar of 3 participants in 2 load processes, each watching the other 2 (6 tiles)"
        in out
    )
    rows = _rows(out)
    assert {"sabaq", "stock", "target"} <= rows.keys(), out
    sabaq = rows["sabaq"]
    assert sabaq[7] == "6 / 6", out  # every viewer saw every other participant's camera
    assert float(sabaq[3]) > 0, out  # packets were forwarded in the window
    tile_median = float(sabaq[5].split("/")[1])
    stage_median = float(sabaq[6].split("/")[1])
    assert tile_median > 0 and stage_median > 0, out
    assert not sabaq[8].endswith("(cut off)"), out


@pytest.mark.timeout(300)
def test_a_tiny_class_in_breakout_groups_is_measured_with_no_packet_crossing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    seminar.main(
        [
            "--participants", "5",
            "--processes", "2",
            "--window", "3",
            "--warmup", "2",
            "--setup", "60",
            "--loop-seconds", "1",
            "--breakout", "2",
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert "the teacher split the 4 students into 2 groups" in out, out
    rows = _rows(out)
    assert "stock" not in rows, out  # stock aiortc has no breakout groups
    sabaq = rows["sabaq"]
    assert sabaq[7] == "4 / 4", out  # each student sees the other of their group
    assert float(sabaq[5].split("/")[0]) > 0, out
    assert "packets a second reaching a viewer from outside its group: 0" in out, out
