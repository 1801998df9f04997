"""JSON text as the server sends it: compact, Chinese as UTF-8, numpy values and dates converted."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["json_default", "json_text"]


def json_text(value: Any) -> str:
    """Compact JSON with Chinese kept as UTF-8 text (not ``\\u`` escapes).

    The encoding of every answer: API documents and each served feature alike.
    """
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=json_default)


def json_default(value: Any) -> Any:
    """Convert what :mod:`json` cannot encode: numpy scalars, dates, arrays; else its text.

    Layers read from a store carry numpy scalars (``.item()``), date columns
    (``.isoformat()``) and, in reports, arrays (``.tolist()``).
    """
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
