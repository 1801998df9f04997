"""Grid staff contacts (网格工作人员): who serves each grid and building, with phones.

A staff roster is an office spreadsheet (CSV or XLSX) with the columns 网格编码, 姓名,
职务 (网格长 / 专职网格员 / 兼职网格员 / 楼长), 电话 and, for a building leader, 楼栋编号.
It is read as robustly as the household roster (title rows, UTF-8 or GBK, size
limits); rows that cannot be used are kept with their problem in ``roster_unmatched``.
The contacts replace the ``staff`` layer in one write. Logged-in users of every role
see them; a public view never does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from planner.households import read_table
from planner.schema import STAFF_ROLES, VALUE_NAMES_ZH

if TYPE_CHECKING:
    from planner.store import Store

__all__ = ["STAFF_COLUMNS", "import_staff", "read_staff"]

#: Staff roster columns: canonical name → accepted headers.
STAFF_COLUMNS: dict[str, tuple[str, ...]] = {
    "grid_code": ("网格编码", "网格编号", "网格代码", "grid_code", "grid"),
    "name": ("姓名", "名字", "name"),
    "role": ("职务", "岗位", "角色", "role"),
    "phone": ("电话", "联系电话", "手机", "手机号", "phone", "tel"),
    "building_id": ("楼栋编号", "楼号", "building_id"),
}

#: Accepted words for each role (Chinese as offices write them, and the codes).
_ROLE_WORDS = {word: code for code in STAFF_ROLES for word in (code, VALUE_NAMES_ZH[code])}
_ROLE_WORDS |= {"网格员": "fulltime_worker", "专职": "fulltime_worker", "兼职": "parttime_worker"}


def read_staff(path: str | Path) -> pd.DataFrame:
    """Read a staff roster into canonical columns (all text, with ``row``)."""
    return read_table(
        path,
        STAFF_COLUMNS,
        required=("grid_code", "name", "role"),
        hint="the columns 网格编码, 姓名 and 职务",
        what="staff roster",
    )


def import_staff(store: Store, path: str | Path) -> dict[str, Any]:
    """Replace the store's ``staff`` layer with a staff roster's contacts.

    Parameters
    ----------
    store
        The store; grid codes are checked against its current plan, building ids
        against its buildings.
    path
        The roster (CSV or XLSX).

    Returns
    -------
    dict
        ``staff`` (rows kept), ``by_role``, ``grids_without_leader`` (grid codes of the
        plan with no 网格长) and ``unmatched`` (rows not kept, each with its problem).
    """
    table = read_staff(path)
    source = Path(path).name
    grids = store.read("grids")
    codes = set(grids["grid_code"].astype(str)) if len(grids) else set()
    buildings = set(store.read("buildings")["building_id"].astype(str))
    kept, problems = [], []
    for rec in table.to_dict("records"):
        role = _ROLE_WORDS.get(str(rec.get("role") or "").strip())
        code = str(rec.get("grid_code") or "").strip()
        name = str(rec.get("name") or "").strip()
        building = str(rec.get("building_id") or "").strip() or None
        problem = None
        if not name or name == "nan":
            problem = "姓名为空 (no name)"
        elif role is None:
            problem = f"职务 {rec.get('role')!r} 不是 网格长/专职网格员/兼职网格员/楼长"
        elif code not in codes:
            problem = f"网格编码 {code!r} 不在当前方案中 (no such grid)"
        elif role == "building_leader" and building not in buildings:
            problem = f"楼长的楼栋编号 {building!r} 不存在 (no such building)"
        if problem:
            problems.append(
                {
                    "row": int(rec["row"]),
                    "building_ref": building or code,
                    "problem": problem,
                    "raw": json.dumps(
                        {k: v for k, v in rec.items() if k != "row" and pd.notna(v)},
                        ensure_ascii=False,
                    ),
                    "source": source,
                }
            )
            continue
        phone = rec.get("phone")
        kept.append(
            {
                "staff_id": f"{code}:{role}:{int(rec['row'])}",
                "grid_code": code,
                "name": name,
                "role": role,
                "phone": str(phone).strip() if pd.notna(phone) and str(phone).strip() else None,
                "building_id": building if role == "building_leader" else None,
                "source": source,
            }
        )
    staff = pd.DataFrame(kept, columns=["staff_id", "grid_code", "name", "role", "phone",
                                        "building_id", "source"])  # fmt: skip
    unmatched = store.read("roster_unmatched")
    if len(unmatched):
        unmatched = unmatched[unmatched["source"] != source]
    unmatched = pd.concat([unmatched, pd.DataFrame(problems)], ignore_index=True)
    store.write_many(
        {"staff": staff, "roster_unmatched": unmatched},
        log=[
            {
                "layer": "staff",
                "action": "import",
                "detail": {"rows": len(staff)},
                "reason": f"planner staff --roster {source}",
            }
        ],  # fmt: skip
    )
    leaders = set(staff.loc[staff["role"] == "grid_leader", "grid_code"])
    return {
        "staff": int(len(staff)),
        "by_role": {r: int((staff["role"] == r).sum()) for r in STAFF_ROLES},
        "grids_without_leader": sorted(codes - leaders),
        "unmatched": problems,
    }
