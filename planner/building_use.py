"""What each building is used for, from every piece of evidence the data holds.

A household estimate is only as good as the share of a building's floor area that is
homes. That share is read here from the building's own tags (``building=*``,
``amenity``, ``shop``, ``office``, ``tourism``, ``healthcare``...), the points of
interest inside or on it, the land use and compound it stands in, its name (大厦,
证券, 医院 against 小区, 公寓, 号楼...) and its height and footprint. Each piece of
evidence is a vote for "home" or for a named other use, with a weight; the votes and
a prior give the probability that the building is a home, and from it the
residential share, a confidence and a readable list of the evidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from planner import settings as planner_settings

if TYPE_CHECKING:
    from planner.settings import EstimateSettings

__all__ = [
    "LIKELY_USES",
    "SHARE_CONFIDENCE",
    "Evidence",
    "UseAssessment",
    "assess_building",
    "assess_use",
    "parse_tag_text",
]

#: Values of the ``likely_use`` field: a home, mixed use, not known, or the other use the
#: evidence points to.
LIKELY_USES = (
    "residential",
    "mixed_use",
    "unknown",
    "office",
    "commercial",
    "hotel",
    "hospital",
    "school",
    "sport",
    "public",
    "industrial",
    "other",
)
#: Values of the ``share_confidence`` field.
SHARE_CONFIDENCE = ("high", "medium", "low")

# Weights of one piece of evidence: a tag on the building itself says the most.
_STRONG, _MEDIUM, _WEAK = 3.0, 2.0, 1.0

_RESIDENTIAL_TYPES = {
    "residential", "apartments", "dormitory", "terrace", "semidetached_house", "house",
    "detached", "bungalow", "farm", "hut", "static_caravan",
}  # fmt: skip
_UNKNOWN_TYPES = {"yes", "building", "construction", ""}
_TYPE_USES = {
    "office": "office",
    "commercial": "commercial",
    "retail": "commercial",
    "supermarket": "commercial",
    "kiosk": "commercial",
    "shop": "commercial",
    "mall": "commercial",
    "hotel": "hotel",
    "hospital": "hospital",
    "school": "school",
    "university": "school",
    "college": "school",
    "kindergarten": "school",
    "sports_hall": "sport",
    "sports_centre": "sport",
    "stadium": "sport",
    "industrial": "industrial",
    "warehouse": "industrial",
    "factory": "industrial",
    "manufacture": "industrial",
}
_PUBLIC_TYPES = {
    "public", "civic", "government", "church", "temple", "mosque", "train_station",
    "transportation", "library", "museum", "fire_station",
}  # fmt: skip

# Tag values that name a use of a whole building (a hospital, a hotel, a mall), by key.
_WHOLE_USES: dict[str, dict[str, str]] = {
    "amenity": {
        "hospital": "hospital", "school": "school", "university": "school",
        "college": "school", "kindergarten": "school", "townhall": "public",
        "police": "public", "courthouse": "public", "library": "public",
        "theatre": "public", "cinema": "commercial", "place_of_worship": "public",
        "fire_station": "public", "community_centre": "public", "arts_centre": "public",
        "post_office": "public", "marketplace": "commercial", "bus_station": "public",
    },
    "shop": {"mall": "commercial", "department_store": "commercial"},
    "tourism": {"hotel": "hotel", "hostel": "hotel", "guest_house": "hotel",
                "motel": "hotel", "museum": "public", "gallery": "public"},
    "healthcare": {"hospital": "hospital"},
    "leisure": {"sports_centre": "sport", "fitness_centre": "sport", "stadium": "sport",
                "sports_hall": "sport", "swimming_pool": "sport", "ice_rink": "sport"},
}  # fmt: skip
# Keys whose every other value is a use of part of a building (a shop, an office, a café).
_PART_USES = {
    "amenity": "commercial",
    "shop": "commercial",
    "office": "office",
    "craft": "commercial",
    "healthcare": "hospital",
    "tourism": "commercial",
    "leisure": "sport",
}
# Amenities that are street furniture or parking, no use of a building at all.
_NO_USE = {
    "parking", "parking_entrance", "bicycle_parking", "atm", "vending_machine", "bench",
    "waste_basket", "toilets", "telephone", "fountain", "shelter", "drinking_water",
    "charging_station", "motorcycle_parking", "recycling", "parking_space", "clock",
}  # fmt: skip

# The area a building stands in (OSM land use, compounds): use by tag.
_AREA_USES: dict[str, dict[str, str]] = {
    "landuse": {
        "residential": "residential", "commercial": "commercial", "retail": "commercial",
        "industrial": "industrial", "railway": "industrial", "military": "public",
        "education": "school", "religious": "public", "institutional": "public",
    },
    "amenity": {
        "hospital": "hospital", "school": "school", "university": "school",
        "college": "school", "kindergarten": "school", "clinic": "hospital",
    },
    "leisure": {"sports_centre": "sport", "stadium": "sport"},
    "tourism": {"hotel": "hotel", "museum": "public"},
    "shop": {"mall": "commercial"},
}  # fmt: skip
_COMPOUND_USES = {
    "residential": "residential",
    "school": "school",
    "hospital": "hospital",
    "campus": "school",
}

# Name words: (pattern, use, weight). A name's head word comes last in Chinese
# (海苑大厦 is a tower, 君临国际广场2幢 one building of a complex), so the word ending last
# decides the direction; the strongest word of that direction gives the weight.
_NAME_RULES: tuple[tuple[str, str, float], ...] = (
    (r"医院|卫生院|诊所|门诊|急救", "hospital", _STRONG),
    (r"小学|中学|学校|幼儿园|大学|学院|附中|附小|教学楼|实验楼|图书馆", "school", _STRONG),
    (r"酒店|宾馆|饭店|旅馆|招待所|旅社|客栈", "hotel", _STRONG),
    (r"银行|证券|保险|信托|写字楼|办公楼|商务楼|商务中心|金融", "office", _STRONG),
    (r"商场|商厦|百货|购物|商城|超市|市场|商业", "commercial", _STRONG),
    (r"体育|健身|游泳馆|球馆", "sport", _STRONG),
    (r"政府|法院|检察院|派出所|公安|税务|局|厅|委员会|研究院|研究所|设计院|博物馆|纪念馆|"
     r"剧院|影城|电影院|寺|教堂|邮政|电信|消防", "public", _STRONG),
    (r"工厂|厂房|仓库|车间|厂$", "industrial", _STRONG),
    (r"大厦|大楼|中心|广场|国际|公司|集团|总部|科技园|创业园", "office", _MEDIUM),
    (r"住宅|宿舍|公寓|寓|小区|新村|家园|花园|公馆|苑|家属|人家|里弄|村", "residential", _MEDIUM),
    # Counters of the buildings of a complex: homes mostly, offices too.
    (r"号楼|栋|幢|单元", "residential", _WEAK),
)  # fmt: skip
_NAME_PATTERNS = tuple((re.compile(p), use, w) for p, use, w in _NAME_RULES)


def _name_evidence(name: str) -> Evidence | None:
    """One vote from a name: the direction of its head word, the weight of its strongest."""
    found = [
        (m.end(), use, weight, m.group(0))
        for pattern, use, weight in _NAME_PATTERNS
        for m in pattern.finditer(name)
    ]
    if not found:
        return None
    head = max(found, key=lambda f: (f[0], f[2]))
    home = head[1] == "residential"
    side = [f for f in found if (f[1] == "residential") == home]
    _, use, weight, word = max(side, key=lambda f: (f[2], f[0]))
    return Evidence("name", f"{name}「{word}」", use, weight)


@dataclass(frozen=True)
class Evidence:
    """One piece of evidence on a building's use.

    Attributes
    ----------
    source
        ``tag`` (the building's own tags), ``poi`` (points of interest in it),
        ``area`` (land use or compound around it), ``name`` or ``shape``.
    what
        What was seen, e.g. ``name 华泰证券大厦 (证券)`` or ``building=hospital``.
    use
        The use it points to: ``residential`` or one of the other :data:`LIKELY_USES`.
    weight
        Its weight in the vote (3 strong, 2 medium, 1 weak).
    """

    source: str
    what: str
    use: str
    weight: float

    def text(self) -> str:
        """The evidence for people: ``住宅+2 名称含「号楼」`` style, Chinese first."""
        side = "住宅" if self.use == "residential" else f"非住宅({_USE_ZH[self.use]})"
        return f"{side}+{self.weight:g} {_SOURCE_ZH[self.source]}: {self.what}"


_SOURCE_ZH = {"tag": "标签", "poi": "兴趣点", "area": "所在用地", "name": "名称", "shape": "体量"}
_USE_ZH = {
    "residential": "住宅",
    "office": "办公",
    "commercial": "商业",
    "hotel": "酒店",
    "hospital": "医院",
    "school": "学校",
    "sport": "体育",
    "public": "公共",
    "industrial": "工业",
    "other": "其他",
}


@dataclass(frozen=True)
class UseAssessment:
    """The use of one building as the evidence gives it.

    Attributes
    ----------
    evidence
        Every piece of evidence found.
    ground_floor_shops
        Shops or cafés were found in or on the building: its ground floor is not homes.
    residential_votes, other_votes
        Sums of the weights for and against a home.
    probability
        Probability that the building is a home: ``(R + w0·p0) / (R + N + w0)``.
    share
        Share of its floor area that is homes.
    likely_use
        One of :data:`LIKELY_USES`.
    confidence
        ``high``, ``medium`` or ``low``.
    """

    evidence: tuple[Evidence, ...]
    ground_floor_shops: bool
    residential_votes: float
    other_votes: float
    probability: float
    share: float
    likely_use: str
    confidence: str

    def text(self) -> str:
        """The evidence as one line (the ``share_evidence`` field)."""
        parts = [e.text() for e in self.evidence]
        if self.ground_floor_shops:
            parts.append("底层商铺: 一层不计住宅")
        return "; ".join(parts) if parts else "无用途证据，按默认比例"


def parse_tag_text(text: object) -> list[tuple[str, str]]:
    """Parse ``key=value;key=value`` (the import's evidence fields) into pairs.

    A ``×N`` count after a value (``shop=clothes×3``) is dropped.
    """
    if not isinstance(text, str) or not text.strip():
        return []
    pairs = []
    for item in text.split(";"):
        key, sep, value = item.partition("=")
        if sep:
            pairs.append((key.strip(), re.sub(r"×\d+$", "", value.strip())))
    return pairs


def _tag_use(key: str, value: str, *, on_building: bool = False) -> tuple[str | None, bool]:
    """The use a tag names, and whether it is a use of the whole building.

    Street furniture and parking say nothing as points; tagged on the building itself
    (``amenity=parking``, a car park; ``amenity=toilets``) they name its whole use.
    """
    if key == "amenity" and value in _NO_USE:
        return ("other", True) if on_building else (None, False)
    whole = _WHOLE_USES.get(key, {}).get(value)
    if whole is not None:
        return whole, True
    part = _PART_USES.get(key)
    return part, False


def assess_building(
    *,
    building_type: object,
    category: object = None,
    name: object = None,
    use_tags: object = None,
    pois: object = None,
    landuse: object = None,
    compound_kind: object = None,
    footprint_m2: float = 0.0,
    levels: float = 0.0,
    levels_known: bool = False,
    settings: EstimateSettings | None = None,
) -> UseAssessment:
    """Weigh the evidence on one building's use (see the module docstring).

    Parameters
    ----------
    building_type
        The OSM ``building=*`` value (or the source's type).
    category
        The building's category (``house`` gets a full share: a 平房 is all home).
    name
        Its name.
    use_tags, pois, landuse
        The import's evidence fields: the building's own use tags, the points of
        interest in it, the areas it stands in (``key=value;...``).
    compound_kind
        Kind of the compound it stands in (``residential``, ``school``, ...).
    footprint_m2, levels
        Size; ``levels_known`` says the levels come from the data, not a default.
    settings
        Estimate settings (prior, thresholds, shares).

    Returns
    -------
    UseAssessment
    """
    settings = settings or planner_settings.settings.estimate
    evidence: list[Evidence] = []
    btype = building_type.strip().lower() if isinstance(building_type, str) else ""
    known_type = btype not in _UNKNOWN_TYPES
    if btype in _RESIDENTIAL_TYPES:
        evidence.append(Evidence("tag", f"building={btype}", "residential", _STRONG))
    elif known_type:
        use = _TYPE_USES.get(btype, "public" if btype in _PUBLIC_TYPES else "other")
        evidence.append(Evidence("tag", f"building={btype}", use, _STRONG))

    shops = False
    for key, value in parse_tag_text(use_tags):
        use, whole = _tag_use(key, value, on_building=True)
        if use is None:
            continue
        if not whole and btype in _RESIDENTIAL_TYPES:
            shops = True  # a shop tagged on a block of flats is its ground floor
            continue
        evidence.append(Evidence("tag", f"{key}={value}", use, _STRONG if whole else _MEDIUM))

    poi_votes: dict[str, Evidence] = {}
    for key, value in parse_tag_text(pois):
        use, whole = _tag_use(key, value)
        if use is None:
            continue
        if whole or (key == "office" and use == "office"):
            # One vote per use, however many points: ten offices are one office tower.
            poi_votes.setdefault(use, Evidence("poi", f"{key}={value}", use, _MEDIUM))
        else:
            shops = True
    evidence.extend(poi_votes.values())

    # The compound and the smallest area say most; larger areas around them (a hospital
    # compound inside a residential district) say less.
    area_votes: dict[str, Evidence] = {}
    compound_use = _COMPOUND_USES.get(compound_kind) if isinstance(compound_kind, str) else None
    if compound_use is not None:
        area_votes[compound_use] = Evidence(
            "area", f"小区/院落 {compound_kind}", compound_use, _MEDIUM
        )
    for key, value in parse_tag_text(landuse):
        use = _AREA_USES.get(key, {}).get(value)
        if use is not None and use not in area_votes:
            weight = _WEAK if area_votes else _MEDIUM
            area_votes[use] = Evidence("area", f"{key}={value}", use, weight)
    evidence.extend(area_votes.values())

    if isinstance(name, str) and name.strip():
        named = _name_evidence(name.strip())
        if named is not None:
            evidence.append(named)

    if not known_type:
        evidence.extend(_shape_evidence(footprint_m2, levels, levels_known, settings))

    residential = sum(e.weight for e in evidence if e.use == "residential")
    other = sum(e.weight for e in evidence if e.use != "residential")
    w0, p0 = settings.prior_weight, settings.unknown_prior
    probability = (residential + w0 * p0) / (residential + other + w0)
    full = settings.residential_share.get("house" if category == "house" else "residential", 0.85)
    if probability <= settings.non_residential_below:
        share, likely = 0.0, _top_use(evidence)
    elif probability >= settings.residential_above:
        share, likely = full, "residential"
    else:
        share = full * probability
        likely = "mixed_use" if evidence else "unknown"
    if shops and share > 0 and levels >= 2:
        share *= (levels - 1) / levels
    return UseAssessment(
        evidence=tuple(evidence),
        ground_floor_shops=shops and share > 0 and levels >= 2,
        residential_votes=residential,
        other_votes=other,
        probability=round(probability, 3),
        share=round(share, 3),
        likely_use=likely,
        confidence=_confidence(residential, other),
    )


def _shape_evidence(
    footprint_m2: float, levels: float, levels_known: bool, settings: EstimateSettings
) -> list[Evidence]:
    """Evidence from size alone, for buildings whose type says nothing."""
    found = []
    if levels_known and levels >= settings.tower_levels:
        found.append(Evidence("shape", f"{levels:g}层超高层(多为办公、酒店)", "office", _WEAK))
    if footprint_m2 >= settings.large_footprint_m2:
        weight = _MEDIUM if levels_known and levels >= 4 else _WEAK
        found.append(
            Evidence(
                "shape", f"占地{footprint_m2:,.0f}㎡大体量(商场、综合体)", "commercial", weight
            )
        )
    elif levels_known and 10 <= levels < settings.tower_levels and footprint_m2 <= 1000:
        found.append(Evidence("shape", f"{levels:g}层点式高层", "residential", _WEAK))
    return found


def _top_use(evidence: list[Evidence]) -> str:
    """The other use with the most weight (ties: the first seen)."""
    weights: dict[str, float] = {}
    for e in evidence:
        if e.use != "residential":
            weights[e.use] = weights.get(e.use, 0.0) + e.weight
    return max(weights, key=lambda use: weights[use]) if weights else "other"


def _confidence(residential: float, other: float) -> str:
    if (residential >= _STRONG and not other) or (other >= _STRONG and not residential):
        return "high"
    if abs(residential - other) >= 4:
        return "high"
    if max(residential, other) >= _MEDIUM and min(residential, other) < max(residential, other):
        return "medium"
    return "low"


def assess_use(
    buildings: pd.DataFrame,
    *,
    settings: EstimateSettings | None = None,
    compound_kind: pd.Series | None = None,
) -> pd.DataFrame:
    """Assess every building's use; return the fields the layer keeps.

    Parameters
    ----------
    buildings
        Buildings with ``building_type``, ``category``, ``name``, ``use_tags``,
        ``pois``, ``landuse``, ``footprint_m2``, ``levels`` and ``levels_source``
        (missing columns count as no evidence).
    settings
        Estimate settings.
    compound_kind
        Kind of the compound each building stands in, if known.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``buildings``: ``residential_share``, ``likely_use``,
        ``share_confidence``, ``share_evidence``.
    """
    settings = settings or planner_settings.settings.estimate

    def column(name: str) -> np.ndarray:
        if name in buildings:
            return buildings[name].to_numpy(object)
        return np.full(len(buildings), None, dtype=object)

    footprint = pd.to_numeric(buildings.get("footprint_m2"), errors="coerce")
    levels = pd.to_numeric(buildings.get("levels"), errors="coerce")
    footprint = np.nan_to_num(np.asarray(footprint, dtype=float) if footprint is not None else 0.0)
    levels = np.nan_to_num(np.asarray(levels, dtype=float) if levels is not None else 0.0)
    if np.ndim(footprint) == 0:
        footprint = np.zeros(len(buildings))
    if np.ndim(levels) == 0:
        levels = np.zeros(len(buildings))
    known = np.isin(column("levels_source"), ["tag", "height"])
    kinds = (
        compound_kind.reindex(buildings.index).to_numpy(object)
        if compound_kind is not None
        else column("compound_kind")
    )
    rows = [
        assess_building(
            building_type=t,
            category=c,
            name=n,
            use_tags=u,
            pois=p,
            landuse=lu,
            compound_kind=k,
            footprint_m2=float(f),
            levels=float(lv),
            levels_known=bool(kn),
            settings=settings,
        )
        for t, c, n, u, p, lu, k, f, lv, kn in zip(
            column("building_type"),
            column("category"),
            column("name"),
            column("use_tags"),
            column("pois"),
            column("landuse"),
            kinds,
            footprint,
            levels,
            known,
            strict=True,
        )
    ]
    return pd.DataFrame(
        {
            "residential_share": [a.share for a in rows],
            "likely_use": [a.likely_use for a in rows],
            "share_confidence": [a.confidence for a in rows],
            "share_evidence": [a.text() for a in rows],
        },
        index=buildings.index,
    )
