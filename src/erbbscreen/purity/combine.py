"""Combination rule, states, purity-aware absence (clonal power) and output rows (docs/purity.md)."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from erbbscreen.distributions import binom_sf

from erbbscreen.purity.common import METHODS, PLASMA, TISSUE, _clip01, _r
from erbbscreen.tables import parse_float


@dataclass
class PurityResult:
    sample_id: str
    patient_id: str
    sample_type: str
    purity: float | None = None
    low: float | None = None
    high: float | None = None
    source: str = ""
    states: list = field(default_factory=list)
    reason: str = ""
    warnings: list = field(default_factory=list)
    estimates: dict = field(default_factory=dict)
    data_estimate: float | None = None
    lod: float | None = None
    clonal_power: dict = field(default_factory=dict)


def _ivw(ests: list) -> tuple:
    w = np.array([1 / e.se ** 2 for e in ests])
    v = np.array([e.value for e in ests])
    m = float((w * v).sum() / w.sum())
    return m, math.sqrt(1 / w.sum())


def combine(sample: dict, ests: dict, s: dict, lod: tuple = (None, "")) -> PurityResult:
    st = sample["sample_type"]
    res = PurityResult(sample["sample_id"], sample.get("patient_id", ""), st, estimates=ests)
    tol = float(s["disagreement"])
    cn = [e for k, e in ests.items() if k in ("snp_imbalance", "segment_fit") and e.ok]
    vaf = ests.get("somatic_vaf")
    data = None
    used = []
    if cn:
        m, se = _ivw(cn)
        used = list(cn)
        widen = []
        if vaf is not None and vaf.ok:
            if abs(vaf.value - m) <= tol:
                used.append(vaf)
            elif vaf.value < m:     # the expected direction for a subclonal SNV: flagged, not averaged in
                res.warnings.append(f"DISAGREEMENT: somatic_vaf {vaf.value:.3f} vs copy-number estimate {m:.3f} "
                                    f"(> {tol:g}); the SNV may be subclonal")
            else:                   # a clonal SNV cannot exceed the purity: the interval must include it
                widen.append(vaf)
                res.warnings.append(f"DISAGREEMENT: somatic_vaf {vaf.value:.3f} above the copy-number estimate "
                                    f"{m:.3f} (> {tol:g})")
        if len(cn) == 2 and abs(cn[0].value - cn[1].value) > tol:
            res.warnings.append(f"DISAGREEMENT: {cn[0].method} {cn[0].value:.3f} vs {cn[1].method} "
                                f"{cn[1].value:.3f} (> {tol:g})")
        m, se = _ivw(used)
        lo, hi = _clip01(m - 1.96 * se), _clip01(m + 1.96 * se)
        if len(cn) == 2 and abs(cn[0].value - cn[1].value) > tol or widen:   # honest interval: span them all
            lo = min([lo] + [e.low for e in used + widen])
            hi = max([hi] + [e.high for e in used + widen])
        data = (m, lo, hi, "+".join(e.method for e in used))
    elif vaf is not None and vaf.ok:
        data = (vaf.value, vaf.low, vaf.high, vaf.method)
        used = [vaf]
    amp = ests.get("amplification_bound")
    if data is None and amp is not None and amp.ok and st == PLASMA:
        data = (amp.value, amp.low, 1.0, "amplification_bound")
        used = [amp]
    if data is not None and amp is not None and amp.ok and data[0] < amp.low - tol:
        res.warnings.append(f"DISAGREEMENT: estimate {data[0]:.3f} below the amplification bound {amp.low:.3f}")
    res.data_estimate = data[0] if data else None
    floor = float(s["min_purity"][st if st in (TISSUE, PLASMA) else TISSUE])
    sheet = parse_float(sample.get("purity"))
    if sheet is not None:
        res.purity, res.low, res.high, res.source = sheet, sheet, sheet, "sheet"
        res.reason = "purity from the sample sheet"
        if data is not None and abs(data[0] - sheet) > float(s["sheet_disagreement"]):
            res.warnings.append(f"SHEET_DISAGREEMENT: data estimate {data[0]:.3f} [{data[1]:.3f}, {data[2]:.3f}] "
                                f"({data[3]}) differs from the sheet's {sheet:g} by > {s['sheet_disagreement']:g}")
    elif data is not None:
        res.purity, res.low, res.high, res.source = round(data[0], 4), round(data[1], 4), round(data[2], 4), data[3]
        res.reason = "; ".join(f"{e.method}: {e.evidence}" for e in used)
        if data[3] == "amplification_bound":
            res.reason = ("ctDNA present (amplification), fraction known only as a LOWER BOUND: no SNV, no measurable "
                          "allelic imbalance; " + res.reason)
    else:
        why = "; ".join(f"{k}: {e.evidence}" for k, e in ests.items() if e.evidence)
        res.lod = lod[0]
        if st == PLASMA:
            res.states.append("NO_TUMOR_EVIDENCE")
            res.source = "below_detection"
            res.low = 0.0
            res.high = lod[0]
            res.reason = (f"ctDNA below detection (LoD {lod[0]:.3g}: {lod[1]}); " if lod[0] is not None else
                          "ctDNA below detection (LoD unknown); ") + why
        else:
            res.states.append("UNRESOLVED")
            res.source = "none"
            res.reason = "nothing to estimate from (copy-neutral, no allelic imbalance, no somatic SNV): " + why
    if res.purity is not None and res.purity < floor:
        res.states.append("LOW_PURITY")
        res.reason += f"; below the floor {floor:g} (purity.min_purity; PURPLE WARN_LOW_PURITY 0.20)"
    return res


# ---------------------------------------------------------------------------------------------------------------
# purity-aware absence: power to see a clonal heterozygous mutation
# ---------------------------------------------------------------------------------------------------------------

def local_cn(segs: pd.DataFrame | None, chrom: str, pos: int, p: float, min_bins: int = 5,
             max_cn: float = 12) -> float:
    """Tumour copy number at a position from its segment's log2 at purity p, clipped to [1, max_cn]; 2 when unknown
    or when the segment has fewer than ``min_bins`` bins (a few over-captured baits are not a copy number)."""
    if segs is None or not len(segs) or not p:
        return 2.0
    sel = segs[(segs["chrom"] == str(chrom)) & (segs["start"] < pos) & (segs["end"] >= pos)
               & (segs["bins"] >= min_bins)]
    if not len(sel):
        return 2.0
    ratio = 2 ** float(sel.iloc[0]["log2"])
    return min(float(max_cn), max(1.0, (2 * ratio - 2 * (1 - p)) / p))


def clonal_power(hs: pd.DataFrame, res: PurityResult, segs: pd.DataFrame | None, s: dict) -> dict:
    """Per not_detected / not_evaluable hotspot codon: power to detect a clonal heterozygous mutation at the lower
    end of the purity interval (VAF = p / (2(1-p) + p C), C the local tumour CN, one mutated copy)."""
    out = {}
    if hs is None or not len(hs) or res.purity is None or "min_alt_detectable" not in hs.columns:
        return out
    p = res.low if res.low is not None else res.purity
    if not p or p <= 0:
        return out
    for _, r in hs.iterrows():
        if r["status"] not in ("not_detected", "not_evaluable"):
            continue
        n, k = parse_float(r["depth"]), parse_float(r["min_alt_detectable"])
        if n is None or k is None or n <= 0:
            continue
        pos = int(str(r.get("positions", "0")).split(",")[0] or 0)
        c = local_cn(segs, r.get("chrom", ""), pos, res.purity, s["segment"]["min_bins"], s["segment"]["max_cn"])
        v = p / (2 * (1 - p) + p * c)
        pw = float(binom_sf(int(k) - 1, int(n), v))
        out.setdefault(r["gene"], {})[str(r["codon"])] = {
            "depth": int(n), "min_alt": int(k), "local_cn": round(c, 2), "clonal_vaf": round(v, 4),
            "power_clonal": round(pw, 3), "power_at_lod": parse_float(r.get("power_at_lod")),
            "status": r["status"]}
    return out


# ---------------------------------------------------------------------------------------------------------------
# output rows
# ---------------------------------------------------------------------------------------------------------------


def result_row(res: PurityResult) -> dict:
    row = dict(sample_id=res.sample_id, patient_id=res.patient_id, sample_type=res.sample_type,
               purity=_r(res.purity), purity_low=_r(res.low), purity_high=_r(res.high), source=res.source,
               states=",".join(res.states), reason=res.reason, warnings="; ".join(res.warnings),
               data_estimate=_r(res.data_estimate), lod=_r(res.lod))
    for m in METHODS + ("amplification_bound",):
        e = res.estimates.get(m)
        row[f"{m}"] = _r(e.value) if e is not None and e.ok else ""
        row[f"{m}_low"] = _r(e.low) if e is not None and e.ok else ""
        row[f"{m}_high"] = _r(e.high) if e is not None and e.ok else ""
        row[f"{m}_counts"] = json.dumps(e.counts, sort_keys=True) if e is not None else ""
        row[f"{m}_evidence"] = e.evidence if e is not None else ""
    return row


def tumor_fraction_row(res: PurityResult) -> dict:
    """The TUMOR_FRACTION biomarker row (docs/biomarkers.md); this stage is its one owner."""
    base = dict(patient_id=res.patient_id, sample_id=res.sample_id, sample_type=res.sample_type,
                biomarker="TUMOR_FRACTION")
    vaf = res.estimates.get("somatic_vaf")
    max_vaf = None
    if vaf is not None and vaf.ok and vaf.counts.get("depth"):
        max_vaf = vaf.counts["alt_reads"] / vaf.counts["depth"]
    details = {"method": "sample_sheet" if res.source == "sheet" else res.source, "purity_low": res.low,
               "purity_high": res.high, "states": res.states, "warnings": res.warnings, "max_vaf": max_vaf,
               "data_estimate": res.data_estimate, "lod": res.lod, "clonal_power": res.clonal_power,
               "lower_bound_only": res.source == "amplification_bound"}
    if res.purity is not None:
        ev = (f"{'tumour purity' if res.sample_type == TISSUE else 'ctDNA fraction'} {res.purity:.3g} "
              f"[{res.low:.3g}-{res.high:.3g}] ({res.source})")
        if res.states:
            ev += f"; states {','.join(res.states)}"
        if res.warnings:
            ev += "; " + "; ".join(res.warnings)
        return dict(base, status="positive", value=f"{res.purity:.4g}", evidence=ev, details=json.dumps(details))
    if "NO_TUMOR_EVIDENCE" in res.states:
        return dict(base, status="negative", value="",
                    evidence=f"below detection: {res.reason}", details=json.dumps(details))
    return dict(base, status="not_evaluable", value="", evidence=res.reason, details=json.dumps(details))
