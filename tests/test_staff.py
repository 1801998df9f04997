"""Grid staff contacts: a staff roster in, the staff layer out, kept from public views."""

from __future__ import annotations

import pandas as pd
import pytest

from planner import accounts
from planner.cli import run
from planner.config import ROOT
from planner.errors import PlannerError
from planner.staff import import_staff

SAMPLE = ROOT / "layers" / "nanjing_xinjiekou_staff.csv"


def _roster(path, rows, *, encoding="gb18030"):
    frame = pd.DataFrame(rows, columns=["网格编码", "姓名", "职务", "联系电话", "楼栋编号"])
    with path.open("w", encoding=encoding, newline="") as f:
        f.write("某社区网格员名册\n")  # a title line above the header, one field wide
        frame.to_csv(f, index=False)
    return path


def test_staff_roster_imports_with_problems_listed(nanjing_store, tmp_path):
    store = nanjing_store
    code = str(store.read("grids")["grid_code"].iloc[0])
    building = str(store.read("buildings").query("grid_code == @code")["building_id"].iloc[0])
    roster = _roster(
        tmp_path / "staff.csv",
        [
            (code, "王芳", "网格长", "13800001111", ""),
            (code, "李强", "专职网格员", "13800002222", ""),
            (code, "赵敏", "楼长", "", building),
            ("999", "钱多", "网格长", "1", ""),  # no such grid
            (code, "孙丽", "组长", "2", ""),  # unknown role
            (code, "周杰", "楼长", "3", "nope"),  # no such building
        ],
    )
    report = import_staff(store, roster)
    assert report["staff"] == 3
    assert report["by_role"] == {
        "grid_leader": 1,
        "fulltime_worker": 1,
        "parttime_worker": 0,
        "building_leader": 1,
    }
    assert code not in report["grids_without_leader"]
    problems = {row["row"]: row["problem"] for row in report["unmatched"]}
    assert set(problems) == {4, 5, 6}
    assert "网格编码" in problems[4] and "职务" in problems[5] and "楼栋编号" in problems[6]
    staff = store.read("staff").set_index("name")
    assert (
        staff.loc["王芳", "phone"] == "13800001111" and staff.loc["王芳", "role"] == "grid_leader"
    )
    assert staff.loc["赵敏", "building_id"] == building and pd.isna(staff.loc["赵敏", "phone"])
    unmatched = store.read("roster_unmatched")
    assert (unmatched["source"] == "staff.csv").sum() == 3
    # A second import replaces the contacts and its own unmatched rows.
    import_staff(store, _roster(tmp_path / "staff.csv", [(code, "王芳", "网格长", "1", "")]))
    assert len(store.read("staff")) == 1
    assert (store.read("roster_unmatched")["source"] == "staff.csv").sum() == 0


def test_bad_staff_rosters_say_what_is_wrong(nanjing_store, tmp_path, capsys):
    path = str(nanjing_store.path)
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    (tmp_path / "nohead.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    for name, message in (("empty.csv", "empty"), ("nohead.csv", "网格编码, 姓名 and 职务")):
        assert run(["staff", path, "--roster", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    with pytest.raises(PlannerError, match="file not found"):
        import_staff(nanjing_store, tmp_path / "missing.xlsx")


def test_the_demo_sample_matches_the_demo_plan(nanjing_store):
    """Every row of the shipped sample names a grid (and building) of the demo's plan."""
    report = import_staff(nanjing_store, SAMPLE)
    assert report["unmatched"] == []
    assert report["grids_without_leader"] == []
    assert report["staff"] == len(pd.read_csv(SAMPLE, skiprows=1))


def test_contacts_are_for_logged_in_users_only():
    for role in accounts.ROLES:
        assert accounts.can_see_layer(role, "staff")
        assert "phone" in (accounts.visible_fields(role, "staff") or {"phone"})
    assert not accounts.can_see_layer(accounts.PUBLIC, "staff")
    assert "phone" not in accounts.visible_fields(accounts.PUBLIC, "stations")
