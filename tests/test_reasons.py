"""Reasons a grid stays out of range: codes, and their text in either language."""

from __future__ import annotations

import pytest

from planner.reasons import OutOfRange, Reason, translate


@pytest.mark.parametrize("reason", list(Reason))
def test_a_stored_reason_reads_in_either_language(reason):
    out = OutOfRange(reason, 1737, 300, 500, (420, 480))
    assert translate(out.text("en"), "zh") == out.text("zh")
    assert translate(out.text("zh"), "en") == out.text("en")
    assert translate(out.text("en"), "en") == out.text("en")


def test_a_flag_written_by_hand_is_left_as_it_is():
    assert translate("学校用地，暂不调整", "en") == "学校用地，暂不调整"
    assert translate("one building holds many households", "zh") == (
        "one building holds many households"
    )
