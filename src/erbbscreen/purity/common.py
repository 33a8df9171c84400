"""Constants and settings of the purity stage (docs/purity.md)."""
from __future__ import annotations

import json
import math

TISSUE, PLASMA, NORMAL = "tumor", "plasma", "normal"
STATES = ("LOW_PURITY", "NO_TUMOR_EVIDENCE", "UNRESOLVED")
METHODS = ("snp_imbalance", "segment_fit", "somatic_vaf")


def purity_defaults() -> dict:
    """The ``purity:`` defaults from workflow/schemas/config.schema.yaml (config.yaml repeats them)."""
    from erbbscreen.copynumber import _schema_defaults
    from erbbscreen.settings import load_schema

    return _schema_defaults(load_schema()["properties"]["purity"])


def purity_settings(over: dict | None = None) -> dict:
    """Schema defaults overlaid with a (possibly partial) ``purity:`` config section."""
    from erbbscreen.copynumber import _deep_update

    return _deep_update(purity_defaults(), json.loads(json.dumps(over or {})))


def _clip01(x):
    return float(min(1.0, max(0.0, x)))


def _r(x, nd=4):
    return "" if x is None or (isinstance(x, float) and not math.isfinite(x)) else round(float(x), nd)
