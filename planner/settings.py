"""Planning rules, read by the engine when a function runs: grids, walking, topology.

The module-level :data:`settings` object holds the rules every engine function uses
when its own argument is left as ``None``, the way :mod:`osmnx.settings` does. Change
an attribute and the next call uses it::

    from planner.settings import settings

    settings.grid.max_households = 450
    settings.walking.minutes = 10.0

Change attributes (or assign a whole group, ``settings.grid = GridRules(...)``); do
not rebind :data:`settings` itself, since engine modules hold a reference to it.
Demo data locations are not rules: they live in :mod:`planner.config`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "EdgeAreaRules",
    "EstimateSettings",
    "GridRules",
    "Limits",
    "Settings",
    "TopologyRules",
    "WalkingRules",
    "settings",
]


@dataclass
class GridRules:
    """How grids (网格) are sized and staffed.

    Attributes
    ----------
    min_households, max_households
        Households per grid (Xinrong district rule: 300-500 常住户).
    grids_per_zone
        Grids per zone (片区).
    partition_time_limit
        Seconds allowed to the partition's repair phases.
    parttime_households, parttime_area_m2, parttime_special_groups
        四维测评: a grid above any of these (households, area in m², special-group
        members) gets a part-time grid worker.
    buildings_per_leader
        Buildings one building leader (楼栋长) looks after.
    region_buildings
        The grid step's working set: a community with more buildings is cut along
        major roads, railways and water into regions of about this many buildings,
        each drawn on its own (:func:`planner.communities.work_regions`), so time and
        memory grow with the area, not faster.
    parallel_buildings
        A store with more buildings than this, in several communities or regions, has
        them drawn in parallel by default, one worker process per CPU
        (:mod:`planner.parallel`); a smaller one is drawn in one process (starting
        the workers would cost more than it saves).
    """

    min_households: int = 300
    max_households: int = 500
    grids_per_zone: int = 7
    partition_time_limit: float = 4.0
    parttime_households: int = 400
    parttime_area_m2: float = 200_000.0
    parttime_special_groups: int = 30
    buildings_per_leader: int = 5
    region_buildings: int = 3000
    parallel_buildings: int = 5000


@dataclass
class WalkingRules:
    """Walking distance, the walking network, isochrones and generated sites.

    Attributes
    ----------
    minutes, speed_mps
        The walk a station serves: 15 minutes at 1.1 m/s is about 1,000 m
        (GB 50180-2018: 800-1,000 m).
    gate_tolerance_m
        A wall crossing is open when a gate lies within this distance of it.
    snap_limit_m
        Features farther than this from a reachable way stay unjoined.
    isochrone_minutes, isochrone_buffer_m
        Isochrone bands in minutes; walked edges are buffered by this many metres.
    generated_site_cost, generated_site_spacing_m, generated_site_reach_m
        Generated candidate sites: their cost, their spacing, and how near a
        residential building a network node must be to hold one.
    """

    minutes: float = 15.0
    speed_mps: float = 1.1
    gate_tolerance_m: float = 5.0
    snap_limit_m: float = 300.0
    isochrone_minutes: tuple[float, ...] = (5.0, 10.0, 15.0)
    isochrone_buffer_m: float = 25.0
    generated_site_cost: float = 2.0
    generated_site_spacing_m: float = 120.0
    generated_site_reach_m: float = 60.0


@dataclass
class TopologyRules:
    """Tolerances of the topology checks and the rule of their fixes.

    The checks take these together with the grid household range as one
    :class:`planner.topology.Thresholds`.

    Attributes
    ----------
    area_tolerance_m2, width_tolerance_m
        Overlaps, gaps and outside pieces smaller than this, or on average narrower
        (2·area/perimeter), are drawing noise or coordinate rounding, not findings.
    sliver_area_m2, sliver_width_m
        A grid piece smaller than this, or nowhere wider, is a sliver (碎片).
    split_min_m2, split_min_share
        A building is cut when a second grid holds at least this area and share of it.
    edge_min_m2, edge_min_share
        An edge area lies in more than one grid when another grid holds this much of it.
    feature_tolerance_m, feature_segment_m
        A boundary follows a physical feature within this distance, measured in
        segments of at most this length.
    fix_rule
        Fixes give a piece to the neighbour sharing the ``"longest_border"`` or to
        the one with ``"fewer_households"``.
    """

    area_tolerance_m2: float = 1.0
    width_tolerance_m: float = 0.1
    sliver_area_m2: float = 50.0
    sliver_width_m: float = 3.0
    split_min_m2: float = 1.0
    split_min_share: float = 0.01
    edge_min_m2: float = 5.0
    edge_min_share: float = 0.02
    feature_tolerance_m: float = 5.0
    feature_segment_m: float = 10.0
    fix_rule: str = "longest_border"


@dataclass
class EdgeAreaRules:
    """What an edge area (边缘地带) is, and when it joins a grid as one piece.

    Attributes
    ----------
    max_households
        Pieces of the community outside compounds and road surface holding fewer
        households than this are edge areas.
    min_area_m2
        Empty pieces smaller than this are road margins, not edge areas.
    strip_width_m
        Empty pieces narrower on average than this are strips.
    touch_min_m
        An edge area joins its grid as one piece only if they share this much border.
    """

    max_households: int = 100
    min_area_m2: float = 200.0
    strip_width_m: float = 15.0
    touch_min_m: float = 1.0


@dataclass
class EstimateSettings:
    """Defaults of the household estimate.

    ``households = footprint area × levels × residential share ÷ dwelling area``.

    Attributes
    ----------
    dwelling_area_m2
        Average gross floor area of one dwelling (90 m², a common Chinese flat).
    residential_share
        Share of floor area that is dwellings, by building category: 0.85 for
        residential buildings (the rest is stairs, walls and shafts); 0.5 for
        buildings of unknown use (``building=yes``) outside any compound, which in
        Chinese old cities are often shops below and flats above; 0 for shops and
        public buildings.
    default_levels
        Storeys assumed when the data gives none, by category (6 for residential,
        the typical walk-up; 1 for single-storey houses 平房).
    persons_per_household
        Residents per household when only households are known.
    min_footprint_m2
        Residential footprints smaller than this (sheds, kiosks) hold no household.
    unknown_prior, prior_weight
        The evidence on a building's use (:mod:`planner.building_use`) is a vote; with
        none, a building of unknown use is a home with probability ``unknown_prior``
        (0.6: shops below, flats above), which counts as ``prior_weight`` votes.
    non_residential_below, residential_above
        A building whose probability of being a home is at most the first holds no
        household (0.34: one piece of evidence against a home, and none for it, is
        enough); at least the second, it gets the full residential share; in between,
        the share in proportion (mixed use).
    tower_levels, large_footprint_m2
        Shape evidence on buildings of unknown type: towers of this many storeys or
        more are mostly offices and hotels; footprints this large are malls and
        complexes.
    household_ceiling
        An estimate above this many households for one building is a plausibility
        warning (``estimate_above_ceiling``).
    density_outlier_z
        A roster building whose households per floor area lie more than this many
        robust standard deviations (1.4826 × MAD of the logs) from the community's
        median is a plausibility warning (``density_outlier``).
    calibration_min_buildings, calibration_folds, calibration_prior_buildings
        Calibration from a partial roster: at least this many rostered buildings,
        checked by k-fold cross-validation with this many folds; each class's fitted
        dwelling area is shrunk toward ``dwelling_area_m2`` as if this many buildings
        at the default had been seen.
    """

    dwelling_area_m2: float = 90.0
    residential_share: dict[str, float] = field(
        default_factory=lambda: {
            "residential": 0.85,
            "mixed": 0.5,
            "house": 1.0,
            "shop": 0.0,
            "public": 0.0,
            "other": 0.0,
        }
    )
    default_levels: dict[str, float] = field(
        default_factory=lambda: {
            "residential": 6.0,
            "mixed": 4.0,
            "house": 1.0,
            "shop": 2.0,
            "public": 4.0,
            "other": 2.0,
        }
    )
    persons_per_household: float = 2.6
    min_footprint_m2: float = 20.0
    unknown_prior: float = 0.6
    prior_weight: float = 1.0
    non_residential_below: float = 0.34
    residential_above: float = 0.75
    tower_levels: float = 40.0
    large_footprint_m2: float = 2500.0
    household_ceiling: int = 400
    density_outlier_z: float = 3.5
    calibration_min_buildings: int = 10
    calibration_folds: int = 5
    calibration_prior_buildings: float = 3.0


@dataclass
class Limits:
    """Sizes of input the planner accepts, generous for a district (街道) of many communities.

    A file beyond them is refused with one line (CLI exit status 2, web API 413) before
    it is parsed, rather than taking minutes and gigabytes to turn out wrong.

    Attributes
    ----------
    roster_max_rows
        Data rows of a household roster (one per building; a district has tens of
        thousands of buildings).
    roster_max_bytes
        Size of a roster file.
    upload_max_bytes
        Size of a request body the web server reads (uploads, edits).
    bad_rows_listed
        Roster rows not used that a report lists one per line; the rest are summed up
        by problem in one line.
    """

    roster_max_rows: int = 200_000
    roster_max_bytes: int = 64 * 1024 * 1024
    upload_max_bytes: int = 16 * 1024 * 1024
    bad_rows_listed: int = 10


@dataclass
class Settings:
    """All planning rules, by group.

    Attributes
    ----------
    grid
        Grid sizes and staffing (:class:`GridRules`).
    walking
        Walking distance, network and sites (:class:`WalkingRules`).
    topology
        Topology tolerances and the fix rule (:class:`TopologyRules`).
    edge_areas
        Edge areas (:class:`EdgeAreaRules`).
    estimate
        The household estimate (:class:`EstimateSettings`).
    limits
        Input sizes accepted (:class:`Limits`).
    """

    grid: GridRules = field(default_factory=GridRules)
    walking: WalkingRules = field(default_factory=WalkingRules)
    topology: TopologyRules = field(default_factory=TopologyRules)
    edge_areas: EdgeAreaRules = field(default_factory=EdgeAreaRules)
    estimate: EstimateSettings = field(default_factory=EstimateSettings)
    limits: Limits = field(default_factory=Limits)


#: The rules in force; engine functions read them when called with ``None``.
settings = Settings()
