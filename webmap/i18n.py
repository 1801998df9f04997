"""Interface text in 简体中文 (default) and English: one message catalogue, ``?lang=en`` to switch.

The language is taken from ``?lang=`` (and remembered in a cookie), else the
cookie, else ``DEFAULT_LANG``. Layer and field names come from the schema
(``Layer.zh``/``Field.zh`` in Chinese; the English name otherwise).

:data:`MESSAGES` is the one source of interface text: templates read it with
``t(key)``, and the map page is sent the catalogue of its language, from which
its scripts (``static/js/``) take every string. Two languages and no plural
forms do not call for gettext catalogues (flask-babel), so there are none.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, g, request

__all__ = ["COOKIE", "LANGS", "MESSAGES", "get_lang", "init_app", "messages", "t"]

LANGS = ("zh", "en")
COOKIE = "lang"

MESSAGES: dict[str, dict[str, str]] = {
    "zh": {
        "html_lang": "zh-CN",
        "title": "网格与党群服务站规划",
        "subtitle": "网格划分 · 15分钟步行覆盖 · 服务站选址",
        "layers": "图层",
        "legend": "图例",
        "search": "搜索",
        "search_placeholder": "网格编码、楼栋或小区名称",
        "search_none": "未找到",
        "summary": "概况",
        "households": "户数",
        "households_total": "总户数",
        "households_roster": "台账户数（名册）",
        "households_estimated": "估算户数（按面积）",
        "buildings": "楼栋",
        "features": "要素",
        "count_unit": "个",
        "analysis": "分析",
        "run": "运行",
        "run_all": "全部运行",
        "no_steps": "暂无可运行的分析步骤",
        "job_queued": "排队中",
        "job_running": "运行中",
        "job_done": "已完成",
        "job_failed": "失败",
        "loading": "加载中…",
        "truncated": "仅显示部分要素，请放大地图",
        "zoom_in_to_see": "放大后显示",
        "api_docs": "接口文档",
        "ogc": "OGC 服务",
        "language": "English",
        "other_lang": "en",
        "existing": "现有",
        "proposed": "拟建",
        "planned": "规划",
        "uncovered": "15分钟步行未覆盖",
        "households_uncovered": "15分钟未覆盖户数",
        "buildings_uncovered": "15分钟未覆盖楼栋",
        "covered": "已覆盖",
        "no_households": "无住户",
        "edge_hatched": "边缘地带（斜线）",
        "wall": "围墙",
        "fence": "栅栏",
        "water": "水系",
        "railway": "铁路",
        "gate": "出入口",
        "station": "党群服务站",
        "candidate": "候选站点",
        "grid": "网格",
        "close": "关闭",
        "empty_store": "该数据库还没有图层",
        "yes": "是",
        "no": "否",
        "basemap_none": "底图：无（道路、楼栋、水系即底图）",
        "docs_title": "接口文档 · 网格与党群服务站规划",
        "error": "出错",
        "fit": "全图",
        "households_short": "户",
        "grid_coloured": "颜色区分，标注编码",
        "grid_flagged": "超出规则的网格",
        "edge_disputed": "有争议的边缘地带",
        "road_main": "主次干道",
        "road_street": "支路、小区道路",
        "road_path": "人行道、小径",
        "gate_closed": "出入口（不开放）",
        "finding": "拓扑问题（点击线条查看）",
        # Letters of the station icons: Chinese on the map in both languages, as on
        # the district's own maps.
        "icon_existing": "站",
        "icon_proposed": "新",
        "icon_planned": "规",
        "editor": "网格编辑",
        "edit_start": "开始编辑",
        "edit_stop": "结束编辑",
        "edit_regrid": "换网格",
        "edit_undo": "撤销",
        "edit_redo": "重做",
        "edit_save": "保存为新版本",
        "edit_discard": "放弃",
        "edit_pick_grid": "点击地图上的一个网格，选为要调入地块的网格",
        "edit_painting": "点击地块，将其划入网格 {grid}",
        "edit_no_block": "此处没有地块",
        "edit_count": "本次编辑 {n} 步",
        "edit_findings": "拓扑问题",
        "edit_no_findings": "无拓扑问题",
        "edit_saved": "已保存为方案版本 {version}",
        "edit_refused": "未保存",
        "edit_message": "网页地图编辑",
        "buildings_short": "栋",
        "staff": "网格人员",
        "finding_overlaps": "重叠",
        "finding_gaps": "空隙",
        "finding_multipart": "多部分网格",
        "finding_slivers": "碎片",
        "finding_outside_community": "超出社区",
        "finding_split_buildings": "楼栋被切分",
        "finding_unassigned_buildings": "未归属楼栋",
        "finding_unassigned_edge_areas": "未归属边缘地带",
        "finding_households_out_of_range": "户数超出范围",
        "login_title": "登录",
        "login": "登录",
        "logout": "退出",
        "username": "用户名",
        "password": "密码",
        "login_failed": "用户名或密码错误",
        "login_too_many": "登录失败次数过多，请稍后再试",
        "login_expired": "登录链接已失效，请用账号登录或重新运行 planner serve",
        "login_help": "账号由管理员用 planner user add 创建",
        "role_viewer": "查看员",
        "role_official": "领导",
        "role_planner": "规划员",
        "role_admin": "管理员",
        "role_public": "公开浏览",
        "job_cancelled": "已取消",
    },
    "en": {
        "html_lang": "en",
        "title": "Grid and service-station planner",
        "subtitle": "Grids · 15-minute walk coverage · station siting",
        "layers": "Layers",
        "legend": "Legend",
        "search": "Search",
        "search_placeholder": "Grid code, building or compound name",
        "search_none": "Nothing found",
        "summary": "Summary",
        "households": "Households",
        "households_total": "Households",
        "households_roster": "from roster",
        "households_estimated": "estimated",
        "buildings": "Buildings",
        "features": "features",
        "count_unit": "",
        "analysis": "Analysis",
        "run": "Run",
        "run_all": "Run all",
        "no_steps": "No analysis steps available",
        "job_queued": "queued",
        "job_running": "running",
        "job_done": "done",
        "job_failed": "failed",
        "loading": "Loading…",
        "truncated": "Some features not shown: zoom in",
        "zoom_in_to_see": "zoom in to see",
        "api_docs": "API docs",
        "ogc": "OGC API",
        "language": "中文",
        "other_lang": "zh",
        "existing": "existing",
        "proposed": "proposed",
        "planned": "planned",
        "uncovered": "beyond a 15-minute walk",
        "households_uncovered": "households beyond 15 min",
        "buildings_uncovered": "buildings beyond 15 min",
        "covered": "covered",
        "no_households": "no households",
        "edge_hatched": "edge area (hatched)",
        "wall": "wall",
        "fence": "fence",
        "water": "water",
        "railway": "railway",
        "gate": "gate",
        "station": "service station",
        "candidate": "candidate site",
        "grid": "grid",
        "close": "Close",
        "empty_store": "This store has no layers yet",
        "yes": "yes",
        "no": "no",
        "basemap_none": "Basemap: none (the store's roads, buildings and water)",
        "docs_title": "API docs · grid and service-station planner",
        "error": "Error",
        "fit": "Fit",
        "households_short": "hh",
        "grid_coloured": "coloured, labelled by code",
        "grid_flagged": "grid outside the rules",
        "edge_disputed": "disputed edge area",
        "road_main": "main road",
        "road_street": "street, lane",
        "road_path": "footpath",
        "gate_closed": "gate (closed)",
        "finding": "problem (click its line)",
        "icon_existing": "站",
        "icon_proposed": "新",
        "icon_planned": "规",
        "editor": "Grid editor",
        "edit_start": "Start editing",
        "edit_stop": "Stop editing",
        "edit_regrid": "Other grid",
        "edit_undo": "Undo",
        "edit_redo": "Redo",
        "edit_save": "Save as a new version",
        "edit_discard": "Discard",
        "edit_pick_grid": "Click a grid on the map: blocks you click next move into it",
        "edit_painting": "Click blocks to move them into grid {grid}",
        "edit_no_block": "No block here",
        "edit_count": "{n} edits in this session",
        "edit_findings": "Topology findings",
        "edit_no_findings": "No topology findings",
        "edit_saved": "Saved as plan version {version}",
        "edit_refused": "Not saved",
        "edit_message": "edited on the web map",
        "buildings_short": "bldg",
        "staff": "staff",
        "finding_overlaps": "overlaps",
        "finding_gaps": "gaps",
        "finding_multipart": "multipart grids",
        "finding_slivers": "slivers",
        "finding_outside_community": "outside the community",
        "finding_split_buildings": "buildings cut",
        "finding_unassigned_buildings": "buildings in no grid",
        "finding_unassigned_edge_areas": "edge areas in no grid",
        "finding_households_out_of_range": "households out of range",
        "login_title": "Log in",
        "login": "Log in",
        "logout": "Log out",
        "username": "User name",
        "password": "Password",
        "login_failed": "Wrong user name or password",
        "login_too_many": "Too many failed logins: try again in a few minutes",
        "login_expired": "This login link was used or has expired: log in, or rerun planner serve",
        "login_help": "Accounts are made by an admin with planner user add",
        "role_viewer": "viewer",
        "role_official": "official",
        "role_planner": "planner",
        "role_admin": "admin",
        "role_public": "public view",
        "job_cancelled": "cancelled",
    },
}


def get_lang() -> str:
    """The language of the current request."""
    if "lang" not in g:
        asked = request.args.get("lang", "")[:2].lower()
        if asked in LANGS:
            g.lang = asked
        else:
            cookie = request.cookies.get(COOKIE, "")
            g.lang = cookie if cookie in LANGS else current_app.config["DEFAULT_LANG"]
    return g.lang


def messages(lang: str | None = None) -> dict[str, str]:
    """The message catalogue of ``lang`` (default: the request's)."""
    return MESSAGES[lang or get_lang()]


def t(key: str) -> str:
    """One message in the request's language (the key itself if unknown)."""
    return messages().get(key, key)


def init_app(app: Flask) -> None:
    """Make ``t`` and ``lang`` available to templates; remember ``?lang=`` in a cookie."""
    app.jinja_env.globals.update(t=t, get_lang=get_lang)

    @app.after_request
    def _remember(response: Response) -> Response:
        asked = request.args.get("lang", "")[:2].lower()
        if asked in LANGS and response.mimetype == "text/html":
            response.set_cookie(COOKIE, asked, max_age=365 * 24 * 3600, samesite="Lax")
        return response
