"""Why a grid stays out of the household range: reasons as codes, their text in one place.

The grid engine (:func:`planner.partition.diagnose`) gives each grid it cannot
bring into range an :class:`OutOfRange`: a :class:`Reason` code and the numbers
behind it. Decisions read the code (:attr:`Reason.physical`: no re-cut can mend
it); people read :meth:`OutOfRange.text`, in English (the grids' ``flag`` field
and the CLI) or Chinese.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Literal

__all__ = ["OutOfRange", "Reason", "translate"]


class Reason(Enum):
    """Why a grid is out of the household range."""

    #: One building (or group of overlapping footprints) holds more than the maximum.
    SINGLE_BUILDING_OVER_MAX = "single_building_over_max"
    #: One block that cannot be opened further holds more than the maximum.
    SINGLE_BLOCK_OVER_MAX = "single_block_over_max"
    #: Above the maximum, and no contiguous split leaves both parts within the range.
    NO_CONTIGUOUS_SPLIT = "no_contiguous_split"
    #: A part of the community cut off from the rest holds fewer than the minimum.
    ISOLATED_PART = "isolated_part"
    #: Below the minimum, and every neighbour is too full to merge or give a block.
    NEIGHBOURS_FULL = "neighbours_full"

    @property
    def physical(self) -> bool:
        """True when the ground itself is the cause: opening blocks or re-cutting cannot help."""
        return self in _PHYSICAL

    def template(self, lang: Literal["en", "zh"] = "en") -> str:
        """The text of this reason, with ``{households}``, ``{min}``, ``{max}`` and
        ``{neighbours}`` to fill in."""
        return _TEXT[self][lang]


_PHYSICAL = frozenset(
    {Reason.SINGLE_BUILDING_OVER_MAX, Reason.SINGLE_BLOCK_OVER_MAX, Reason.ISOLATED_PART}
)

_TEXT: dict[Reason, dict[str, str]] = {
    Reason.SINGLE_BUILDING_OVER_MAX: {
        "en": "one building holds {households} households, above the maximum {max}; "
        "it cannot be split",
        "zh": "一栋楼有 {households} 户，超过上限 {max}，无法拆分",
    },
    Reason.SINGLE_BLOCK_OVER_MAX: {
        "en": "one block holds {households} households, above the maximum {max}; "
        "it cannot be split",
        "zh": "一个地块有 {households} 户，超过上限 {max}，无法拆分",
    },
    Reason.NO_CONTIGUOUS_SPLIT: {
        "en": "{households} households: no contiguous split leaves both parts within {min}-{max}",
        "zh": "{households} 户：任何连通的拆分都不能使两部分都在 {min}-{max} 户之间",
    },
    Reason.ISOLATED_PART: {
        "en": "isolated part of the community with only {households} households "
        "(below the minimum {min})",
        "zh": "社区中孤立的部分，仅有 {households} 户（少于下限 {min}）",
    },
    Reason.NEIGHBOURS_FULL: {
        "en": "{households} households, below the minimum {min}: merging with any "
        "neighbouring grid ({neighbours} households) would exceed {max}, and no "
        "boundary block can move without taking a neighbour out of range",
        "zh": "{households} 户，少于下限 {min}：与任一相邻网格（{neighbours} 户）合并都会"
        "超过 {max}，且任何边界地块移出都会使相邻网格超出范围",
    },
}


@dataclass(frozen=True)
class OutOfRange:
    """A grid out of the household range and why.

    Attributes
    ----------
    reason
        The code.
    households
        The households the reason speaks of: the building or block for the
        ``SINGLE_*`` reasons, the isolated part for ``ISOLATED_PART``, else the grid.
    min_households, max_households
        The range.
    neighbours
        Households of the neighbouring grids (``NEIGHBOURS_FULL``).
    """

    reason: Reason
    households: int
    min_households: int
    max_households: int
    neighbours: tuple[int, ...] = ()

    def text(self, lang: Literal["en", "zh"] = "en") -> str:
        """The reason in words (English: as stored in a grid's ``flag``)."""
        return self.reason.template(lang).format(
            households=self.households,
            min=self.min_households,
            max=self.max_households,
            neighbours=", ".join(str(n) for n in self.neighbours),
        )


def _pattern(template: str) -> re.Pattern[str]:
    """A regular expression matching ``template`` filled in (its fields captured by name)."""
    fields = {"households": r"\d+", "min": r"\d+", "max": r"\d+", "neighbours": r"[\d, ]*"}
    out, last = [], 0
    for match in re.finditer(r"\{(\w+)\}", template):
        out.append(re.escape(template[last : match.start()]))
        out.append(f"(?P<{match.group(1)}>{fields[match.group(1)]})")
        last = match.end()
    out.append(re.escape(template[last:]))
    return re.compile("".join(out))


_PATTERNS = {lang: [(r, _pattern(r.template(lang))) for r in Reason] for lang in ("en", "zh")}


def translate(text: str, lang: Literal["en", "zh"]) -> str:
    """A stored reason (a grid's ``flag``) in ``lang``; other text comes back as it is.

    The grid engine writes reasons in English; a planner may write any flag by hand.
    """
    for source in ("en", "zh"):
        for reason, pattern in _PATTERNS[source]:
            match = pattern.fullmatch(text.strip())
            if match:
                return reason.template(lang).format(**match.groupdict())
    return text
