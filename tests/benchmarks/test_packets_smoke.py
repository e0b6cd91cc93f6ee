"""The packet benchmark's workload still builds: the reference packet and the typical one render,
with the pages the benchmark's README describes. Nothing is timed here (make bench does that)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import packets


def test_the_reference_and_the_typical_packet_render_as_described(tmp_path: Path) -> None:
    (tmp_path / "order.pdf").write_bytes(packets.attachment_pdf(1))
    (tmp_path / "notes.pdf").write_bytes(packets.attachment_pdf(9))
    packets.setup(str(tmp_path))
    reference = packets._STATE["packet"]
    assert reference.kind == "final" and reference.template == "reference-request"
    assert sum(a.document.pages for a in reference.attachments) == 10
    assert packets.render_once() == 22  # 12 laid out, 10 attached
    assert packets.render_typical() == 14  # the shipped ACME form: 4 laid out, 10 attached


def test_the_instruction_count_mode_renders_and_times_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert packets.main(["--renders", "0"]) == 0
    assert capsys.readouterr().out == ""  # nothing printed, nothing written to results/
