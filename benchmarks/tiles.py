"""Benchmark helper: a city-sized test area made by tiling one OSM extract edge to edge.

The Nanjing Xinjiekou extract is clipped to its buildings' extent (W,S,E,N =
118.7624,32.0328,118.7970,32.0532 by default): nodes outside are dropped, ways keep
their nodes inside, closed ways crossing the edge are dropped (a building or a compound
cut open is no longer an area), and so are relations left without members or, for
multipolygons, with a member cut. The clipped extract is then copied N×N edge to edge:
each copy's coordinates shifted by whole tile widths and heights, its ids renumbered
(every copy a range of its own) and its names suffixed with the tile (``·r1c2``). The
result is written as an ``.osm`` XML file that ``planner import`` reads like any other.

Beside it, a community-boundaries file (GeoJSON) holds one polygon per tile with
``name`` and ``code`` fields (the tile's community), which ``planner import --boundary``
and :func:`planner.communities.read_communities` read as many communities; with
``--whole`` one polygon covers every tile instead (the whole area as one community,
the worst case for the grid step).

Usage::

    python benchmarks/tiles.py 9 --out /tmp/city9.osm [--communities /tmp/city9.geojson]
"""

from __future__ import annotations

import argparse
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

from planner import config

__all__ = [
    "BUILDINGS_EXTENT",
    "ClippedExtract",
    "clip_extract",
    "community_code",
    "tile_name",
    "write_communities",
    "write_tiled",
]

#: The Nanjing extract's buildings' extent, W,S,E,N in degrees (the issue's test area).
BUILDINGS_EXTENT = (118.7624, 32.0328, 118.7970, 32.0532)
#: The community code of the tiled area's first tile; tile k adds k (12 digits).
_CODE_BASE = 320102001001
#: Relations whose meaning does not survive a cut or a copy: administrative boundaries
#: describe the real districts, not the copies.
_DROPPED_RELATIONS = frozenset({"boundary"})


@dataclass
class ClippedExtract:
    """An OSM extract clipped to a box, ready to be copied tile by tile.

    Attributes
    ----------
    bbox
        ``(west, south, east, north)`` of the tile.
    nodes
        ``(id, lon, lat, tags)`` of the nodes inside.
    ways
        ``(id, node ids, tags)`` of the ways kept, with their inside nodes only.
    relations
        ``(id, members, tags)``, members as ``(type, ref, role)``.
    """

    bbox: tuple[float, float, float, float]
    nodes: list[tuple[int, float, float, list[tuple[str, str]]]]
    ways: list[tuple[int, list[int], list[tuple[str, str]]]]
    relations: list[tuple[int, list[tuple[str, int, str]], list[tuple[str, str]]]]


def _tags(element: ET.Element) -> list[tuple[str, str]]:
    return [(t.get("k", ""), t.get("v", "")) for t in element.findall("tag")]


def clip_extract(
    path: str | Path, bbox: tuple[float, float, float, float] = BUILDINGS_EXTENT
) -> ClippedExtract:
    """Clip an OSM XML extract to ``bbox`` (nodes outside dropped, closed ways crossing
    the edge dropped, open ways keeping their inside nodes)."""
    west, south, east, north = bbox
    root = ET.parse(path).getroot()
    nodes, inside = [], set()
    for node in root.iter("node"):
        lon, lat = float(node.get("lon")), float(node.get("lat"))
        if west <= lon <= east and south <= lat <= north:
            nid = int(node.get("id"))
            inside.add(nid)
            nodes.append((nid, lon, lat, _tags(node)))
    ways, whole = [], set()
    for way in root.iter("way"):
        refs = [int(nd.get("ref")) for nd in way.findall("nd")]
        kept = [r for r in refs if r in inside]
        closed = len(refs) > 3 and refs[0] == refs[-1]
        if len(kept) < 2 or (closed and len(kept) < len(refs)):
            continue
        wid = int(way.get("id"))
        ways.append((wid, kept, _tags(way)))
        if len(kept) == len(refs):
            whole.add(wid)
    kept_ways = {w[0] for w in ways}
    relations = []
    for relation in root.iter("relation"):
        tags = _tags(relation)
        kind = dict(tags).get("type", "")
        if kind in _DROPPED_RELATIONS:
            continue
        members = [
            (m.get("type"), int(m.get("ref")), m.get("role", ""))
            for m in relation.findall("member")
        ]
        present = {"node": inside, "way": kept_ways}
        kept = [m for m in members if m[1] in present.get(m[0], ())]
        # A multipolygon with a member cut or missing is no longer the area it drew.
        if kind == "multipolygon" and (
            len(kept) < len(members) or any(m[0] == "way" and m[1] not in whole for m in kept)
        ):
            continue
        if kept:
            relations.append((int(relation.get("id")), kept, tags))
    return ClippedExtract(bbox=tuple(bbox), nodes=nodes, ways=ways, relations=relations)


def tile_name(row: int, col: int) -> str:
    """The suffix of a tile's names and its community's name part: ``r{row}c{col}``."""
    return f"r{row}c{col}"


def community_code(k: int) -> str:
    """The 12-digit community code of tile ``k`` (row-major from the south-west)."""
    return str(_CODE_BASE + k)


def _tiles(n: int) -> Iterator[tuple[int, int, int]]:
    for row in range(n):
        for col in range(n):
            yield row * n + col, row, col


def _tag_lines(tags: list[tuple[str, str]], suffix: str) -> str:
    out = []
    for k, v in tags:
        if k == "name" or k.startswith("name:"):
            v = f"{v}·{suffix}"
        out.append(f"    <tag k={quoteattr(k)} v={quoteattr(v)}/>\n")
    return "".join(out)


def write_tiled(extract: ClippedExtract, n: int, out: str | Path) -> dict[str, int]:
    """Write ``extract`` copied ``n``×``n`` edge to edge as an OSM XML file.

    Tile ``(row, col)`` is shifted ``col`` tile widths east and ``row`` tile heights
    north. Ids are renumbered densely, each tile a range of its own, so the copies
    share no node, way or relation.

    Returns
    -------
    dict
        ``nodes``, ``ways``, ``relations`` and ``buildings`` written.
    """
    west, south, east, north = extract.bbox
    dx, dy = east - west, north - south
    node_id = {nid: k + 1 for k, (nid, *_rest) in enumerate(extract.nodes)}
    way_id = {wid: k + 1 for k, (wid, *_rest) in enumerate(extract.ways)}
    rel_id = {rid: k + 1 for k, (rid, *_rest) in enumerate(extract.relations)}
    ids = {"node": node_id, "way": way_id, "relation": rel_id}
    stride = {key: len(v) for key, v in ids.items()}
    buildings = sum(1 for _, _, tags in extract.ways if any(k == "building" for k, _ in tags))
    with open(out, "w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        f.write('<osm version="0.6" generator="planner benchmarks/tiles.py">\n')
        f.write(
            "<note>The data included in this document is from www.openstreetmap.org. "
            "The data is made available under ODbL.</note>\n"
        )
        f.write(
            f'  <bounds minlat="{south:.7f}" minlon="{west:.7f}" '
            f'maxlat="{south + n * dy:.7f}" maxlon="{west + n * dx:.7f}"/>\n'
        )
        for k, row, col in _tiles(n):
            suffix, sx, sy = tile_name(row, col), col * dx, row * dy
            base = k * stride["node"]
            for nid, lon, lat, tags in extract.nodes:
                head = (
                    f'  <node id="{base + node_id[nid]}" lat="{lat + sy:.7f}" lon="{lon + sx:.7f}"'
                )
                f.write(
                    f"{head}>\n{_tag_lines(tags, suffix)}  </node>\n" if tags else f"{head}/>\n"
                )
        for k, row, col in _tiles(n):
            suffix, base = tile_name(row, col), k * stride["node"]
            for wid, refs, tags in extract.ways:
                f.write(f'  <way id="{k * stride["way"] + way_id[wid]}">\n')
                f.write("".join(f'    <nd ref="{base + node_id[r]}"/>\n' for r in refs))
                f.write(f"{_tag_lines(tags, suffix)}  </way>\n")
        for k, row, col in _tiles(n):
            suffix = tile_name(row, col)
            for rid, members, tags in extract.relations:
                f.write(f'  <relation id="{k * stride["relation"] + rel_id[rid]}">\n')
                for kind, ref, role in members:
                    if ref not in ids[kind]:
                        continue
                    new = k * stride[kind] + ids[kind][ref]
                    f.write(f'    <member type="{kind}" ref="{new}" role={quoteattr(role)}/>\n')
                f.write(f"{_tag_lines(tags, suffix)}  </relation>\n")
        f.write("</osm>\n")
    tiles = n * n
    return {
        "tiles": tiles,
        "nodes": tiles * stride["node"],
        "ways": tiles * stride["way"],
        "relations": tiles * stride["relation"],
        "buildings": tiles * buildings,
    }


def write_communities(
    bbox: tuple[float, float, float, float], n: int, out: str | Path, *, whole: bool = False
) -> int:
    """Write the tiles' community boundaries (GeoJSON, EPSG:4326): one polygon per tile
    with ``name`` and ``community_code``, or with ``whole`` one polygon over all tiles.

    Returns the number of polygons written.
    """
    west, south, east, north = bbox
    dx, dy = east - west, north - south
    features = []
    if whole:
        cells = [(0, 0, 0, n, "南京新街口(拼接全区)")]
    else:
        cells = [(k, row, col, 1, f"南京新街口·{tile_name(row, col)}") for k, row, col in _tiles(n)]
    for k, row, col, span, name in cells:
        w, s = west + col * dx, south + row * dy
        e, nn = w + span * dx, s + span * dy
        ring = [[w, s], [e, s], [e, nn], [w, nn], [w, s]]
        features.append(
            {
                "type": "Feature",
                "properties": {"name": name, "community_code": community_code(k)},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    collection = {"type": "FeatureCollection", "features": features}
    Path(out).write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
    return len(features)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, help="tiles per side (N×N tiles)")
    parser.add_argument("--out", required=True, help="the .osm file to write")
    parser.add_argument("--communities", help="also write the tiles' boundaries (GeoJSON)")
    parser.add_argument("--whole", action="store_true", help="one community over all tiles")
    parser.add_argument("--source", default=str(config.DATA_DIR / "osm" / "nanjing_xinjiekou.osm"))
    parser.add_argument(
        "--bbox", default=",".join(map(str, BUILDINGS_EXTENT)), help="the tile, W,S,E,N"
    )
    args = parser.parse_args(argv)
    bbox = tuple(float(v) for v in args.bbox.split(","))
    extract = clip_extract(args.source, bbox)
    counts = write_tiled(extract, args.n, args.out)
    if args.communities:
        counts["communities"] = write_communities(bbox, args.n, args.communities, whole=args.whole)
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
