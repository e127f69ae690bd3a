"""``bench.cascade`` keeps working: one lecture over 1, 2 and 3 media processes, quick."""

from __future__ import annotations

import re

import pytest

from bench import cascade


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.split("|")[1:-1]]


@pytest.mark.timeout(300)  # six media processes in turn, publishers, viewers, on a busy machine
def test_a_lecture_is_measured_over_one_two_and_three_media_processes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    cascade.main(["--quick"])
    out = capsys.readouterr().out
    lines = out.splitlines()
    nodes = [_cells(line) for line in lines if re.match(r"\| [123] \((baseline|cascade)\)", line)]
    assert [(n[0][0], n[1]) for n in nodes] == [
        ("1", "origin"),
        ("2", "origin"),
        ("2", "relay 1"),
        ("3", "origin"),
        ("3", "relay 1"),
        ("3", "relay 2"),
    ], out
    for process, _node, viewers, cpu, rtp, link, sent, per_packet, fps, latency in nodes:
        assert int(viewers) >= 2 and float(cpu) > 0 and float(rtp) > 0, out
        assert float(sent) >= float(rtp) and float(per_packet) > 0, out
        assert float(fps.split(" / ")[0]) > 20, out  # each node's viewers got the picture
        p50, p95 = (float(x) for x in latency.split(" / "))
        assert 0 < p50 <= p95 < 1000, out  # its probe's frames were timed
        if not process.startswith("1 "):
            assert float(link) > 40, out  # about 30 video + 50 audio frames a second a link
    # The origin of 3 processes sends each frame once per relay: twice a relay's intake.
    origin3, relay1 = nodes[3], nodes[4]
    assert 1.5 < float(origin3[5]) / float(relay1[5]) < 2.5, out
    totals = [_cells(line) for line in lines if re.match(r"\| [123] +\| ", line)]
    hops = [row[-1] for row in totals if len(row) == 8 and row[0] != "1"]
    assert len(hops) == 2 and all(re.fullmatch(r"-?\d+\.\d / -?\d+\.\d", h) for h in hops), out
    assert "One relay link ≈" in out and "one lecture, 16 cores = 15 × relay + origin" in out
