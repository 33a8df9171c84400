"""The purity estimators: (a) snp_imbalance, (b) segment_fit, (c) somatic_vaf; plasma amplification bound
and detection limit (docs/purity.md)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from erbbscreen.distributions import beta_ppf, binom_sf

from erbbscreen.purity.common import _clip01
from erbbscreen.tables import parse_float, read_table


@dataclass
class Estimate:
    method: str
    value: float | None = None
    low: float | None = None
    high: float | None = None
    evidence: str = ""
    counts: dict = field(default_factory=dict)
    lower_bound_only: bool = False

    @property
    def ok(self) -> bool:
        return self.value is not None and math.isfinite(self.value)

    @property
    def se(self) -> float:
        return max((self.high - self.low) / (2 * 1.96), 0.01) if self.ok else float("inf")


def estimate_snp_imbalance(segs: pd.DataFrame, s: dict) -> Estimate:
    """(a) purity from the B-allele fraction of imbalanced segments, the state read from the log2 sign."""
    sg = s["segment"]
    est = Estimate("snp_imbalance")
    if segs is None or not len(segs):
        est.evidence = "no segments"
        return est
    used, vals, ws = [], [], []
    usable = segs[(segs["snps"] >= sg["min_snps"]) & (segs["bins"] >= sg["min_bins"])]
    for _, r in usable.iterrows():
        if not (r["imbalance_p"] < sg["imbalance_p"] and 0.5 - r["baf"] >= sg["min_imbalance"]):
            continue
        b, bse, v = r["baf"], r["baf_se"], r["log2"]
        bse = math.hypot(bse, sg["baf_sd_floor"])
        if v < -sg["neutral_log2"]:
            state, f = "loss (LOH)", lambda x: (1 - 2 * x) / (1 - x)
        elif abs(v) <= sg["neutral_log2"]:
            state, f = "copy-neutral LOH", lambda x: 1 - 2 * x
        else:
            # a gain keeps the minor allele at one copy: b = 1/(2R) whatever the purity (state (n + 1, 1) at p and
            # (m + 1, 1) at p n/m look the same), so its B-allele share does not fix purity
            continue
        p = _clip01(f(b))
        dp = abs(f(min(0.5, b + bse)) - f(max(1e-3, b - bse))) / 2
        if not 0 < p <= 1:
            continue
        used.append(f"{r['chrom']}:{r['start'] + 1}-{r['end']} {state} b={b:.3f} ({r['snps']} SNPs) -> {p:.3f}")
        vals.append(p)
        ws.append(1 / max(dp, 0.01) ** 2)
    est.counts = {"segments": len(used), "snps": int(usable["snps"].sum()) if len(usable) else 0,
                  "segments_with_snps": int(len(usable))}
    if not vals:
        est.evidence = (f"no segment with significant allelic imbalance ({len(usable)} segment(s) with >= "
                        f"{sg['min_snps']} SNPs)")
        return est
    vals, ws = np.array(vals), np.array(ws)
    mean = float((vals * ws).sum() / ws.sum())
    se = math.sqrt(1 / ws.sum())
    if len(vals) > 1:            # over-dispersion between segments widens the interval
        chi = float((ws * (vals - mean) ** 2).sum()) / (len(vals) - 1)
        se *= math.sqrt(max(1.0, chi))
    est.value, est.low, est.high = mean, _clip01(mean - 1.96 * se), _clip01(mean + 1.96 * se)
    est.evidence = "; ".join(used)
    return est


def _states(max_cn: int):
    st = [(a, b) for a in range(0, max_cn + 1) for b in range(0, a + 1) if a + b <= max_cn]
    return np.array(st, dtype=float)


def estimate_segment_fit(segs: pd.DataFrame, s: dict, grid=None) -> Estimate:
    """(b) joint integer-state fit of depth ratio + BAF over a purity grid (ploidy 2)."""
    sg = s["segment"]
    est = Estimate("segment_fit")
    if segs is None or not len(segs):
        est.evidence = "no segments"
        return est
    use = segs[segs["bins"] >= sg["min_bins"]].reset_index(drop=True)
    grid = np.round(np.arange(0.05, 1.0001, 0.01), 2) if grid is None else grid
    states = _states(int(sg["max_cn"]))
    tot, minor = states[:, 0] + states[:, 1], states[:, 1]
    ratio_obs = 2 ** use["log2"].to_numpy()
    r_se = np.maximum(use["log2_se"].to_numpy(), 1e-3) * np.log(2) * ratio_obs
    has_b = (use["snps"].to_numpy() >= sg["min_snps"])
    b_obs = np.where(has_b, use["baf"].to_numpy(), np.nan)
    b_se = np.hypot(np.where(has_b, use["baf_se"].to_numpy(), 1.0), sg["baf_sd_floor"])
    pen = float(sg["copy_penalty"])
    # informative: a segment departing from diploid heterozygous (1, 1) in depth or in allelic balance
    dev_neutral = ((ratio_obs - 1) / r_se) ** 2 + np.where(has_b, ((b_obs - 0.5) / b_se) ** 2, 0)
    informative = dev_neutral > 9 + 2 * has_b
    informative &= (np.abs(use["log2"].to_numpy()) > sg["neutral_log2"]) | (
        has_b & (use["imbalance_p"].to_numpy() < sg["imbalance_p"]))
    est.counts = {"segments": int(informative.sum()), "segments_total": int(len(use))}
    if informative.sum() < sg["min_segments"]:
        est.evidence = f"no segment departs from copy-neutral heterozygous ({len(use)} segment(s))"
        return est
    # raw: the fit itself (its profile decides identifiability and the interval); penalised: PURPLE-style
    # parsimony (per copy away from 2) only picks the value inside that interval
    raw, score = np.zeros(grid.size), np.zeros(grid.size)
    for gi, p in enumerate(grid):
        r_mod = ((1 - p) * 2 + p * tot) / 2
        b_mod = ((1 - p) + p * minor) / np.maximum((1 - p) * 2 + p * tot, 1e-9)
        d = ((ratio_obs[informative, None] - r_mod[None, :]) / r_se[informative, None]) ** 2
        bb = np.where(has_b[informative, None], ((b_obs[informative, None] - b_mod[None, :]) /
                                                 b_se[informative, None]) ** 2, 0.0)
        raw[gi] = (d + bb).min(axis=1).sum()
        score[gi] = (d + bb + pen * np.abs(tot - 2)[None, :]).min(axis=1).sum()
    inside = grid[raw <= raw.min() + 3.84]
    within = (grid >= inside.min()) & (grid <= inside.max())
    i = int(np.flatnonzero(within)[np.argmin(score[within])])
    est.value, est.low, est.high = float(grid[i]), float(inside.min()), float(inside.max())
    # the interval touching both grid ends: the fit has no purity information (e.g. a lone amplification)
    if est.high - est.low > 0.5 or (est.low <= grid[0] + 1e-9 and est.high >= grid[-1] - 1e-9):
        est.evidence = (f"fit not identifiable: purities [{est.low:.2f}, {est.high:.2f}] explain the "
                        f"{int(informative.sum())} informative segment(s) equally well (e.g. an amplification or a "
                        f"gain alone, whose copy number is unknown)")
        est.counts["unidentifiable"] = True
        est.value = est.low = est.high = None
        return est
    p = grid[i]
    r_mod = ((1 - p) * 2 + p * tot) / 2
    b_mod = ((1 - p) + p * minor) / np.maximum((1 - p) * 2 + p * tot, 1e-9)
    parts, anchors = [], 0
    for j in np.flatnonzero(informative):
        d = ((ratio_obs[j] - r_mod) / r_se[j]) ** 2 + (((b_obs[j] - b_mod) / b_se[j]) ** 2 if has_b[j] else 0) \
            + pen * np.abs(tot - 2)
        k = int(np.argmin(d))
        r = use.iloc[j]
        parts.append(f"{r['chrom']}:{r['start'] + 1}-{r['end']} {int(states[k, 0])}+{int(states[k, 1])}")
        r_imb = has_b[j] and r["imbalance_p"] < sg["imbalance_p"] and 0.5 - r["baf"] >= sg["min_imbalance"]
        anchors += int(states[k, 1] == 0 and r_imb)      # a measured allele loss, not a depth-only state
    # only a segment that lost an allele (measured by its SNPs) pins purity: with the minor allele kept at one
    # copy, (n + 1, 1) at purity p and (m + 1, 1) at p n / m give the same depth and B-allele fraction
    est.counts["allele_loss_segments"] = anchors
    if not anchors:
        est.evidence = (f"fit not identifiable: no segment with a lost allele among {int(informative.sum())} "
                        f"informative segment(s) ({'; '.join(parts[:6])}); gains/amplifications keeping one minor "
                        "copy fit every purity (copy number unknown)")
        est.counts["unidentifiable"] = True
        est.value = est.low = est.high = None
        return est
    est.evidence = (f"best purity {p:.2f} (chi-square profile interval [{est.low:.2f}, {est.high:.2f}]) over "
                    f"{int(informative.sum())} segment(s): " + "; ".join(parts[:12]))
    return est


def _clopper_pearson(k: int, n: int, alpha: float = 0.05) -> tuple:
    lo = beta_ppf(alpha / 2, k, n - k + 1) if k > 0 else 0.0
    hi = beta_ppf(1 - alpha / 2, k + 1, n - k) if k < n else 1.0
    return float(lo), float(hi)


def read_hotspot_rows(path) -> pd.DataFrame:
    if not path or not Path(path).is_file() or Path(path).stat().st_size == 0:
        return pd.DataFrame()
    df = read_table(path)
    return df


def estimate_somatic_vaf(hs: pd.DataFrame) -> Estimate:
    """(c) the highest somatic (not germline-like) detected hotspot VAF: p = 2 VAF (clonal het, diploid)."""
    est = Estimate("somatic_vaf")
    if hs is None or not len(hs) or "status" not in hs.columns:
        est.evidence = "no hotspot table"
        return est
    det = hs[(hs["status"] == "detected") & (hs.get("germline_like", pd.Series("no", index=hs.index)) != "yes")]
    est.counts = {"somatic_variants": int(len(det))}
    if not len(det):
        est.evidence = "no somatic hotspot variant detected"
        return est
    vaf = det["vaf"].map(parse_float)
    top = det.loc[vaf.idxmax()]
    k, n = int(float(top["alt_reads"])), int(float(top["depth"]))
    v = k / n
    lo, hi = _clopper_pearson(k, n)
    est.value = _clip01(2 * v)
    est.low = _clip01(2 * lo / (1 + lo))        # Wyatt: TF = 2/(1 + 1/VAF) at the binomial lower bound
    est.high = _clip01(2 * hi)
    est.evidence = (f"{top['gene']} {top['protein_change']} VAF {v:.4f} ({k}/{n}); 2 x VAF = {2 * v:.3f}, interval "
                    f"[2/(1+1/VAF_low) = {est.low:.3f}, 2 x VAF_high = {est.high:.3f}] (Clopper-Pearson 95%); "
                    f"assumes a clonal heterozygous variant in a diploid region (a subclone gives a lower value)")
    est.counts.update(alt_reads=k, depth=n)
    return est


def amplification_bound(segs: pd.DataFrame, s: dict) -> Estimate:
    """Plasma: lower bound on f implied by the strongest significant gain: pCN = 2(1-f) + f C with C <= max_cn."""
    pl = s["plasma"]
    est = Estimate("amplification_bound", lower_bound_only=True)
    if segs is None or not len(segs):
        return est
    ok = segs[(segs["bins"] >= s["segment"]["min_bins"]) & (segs["log2"] >= pl["amplification_min_log2"])
              & (segs["log2"] / segs["log2_se"] >= pl["amplification_z"])]
    if not len(ok):
        est.evidence = "no significant amplification"
        return est
    r = ok.loc[ok["log2"].idxmax()]
    pcn = 2 * 2 ** float(r["log2"])
    cmax = float(pl["amplification_max_cn"])
    est.value = est.low = _clip01((pcn - 2) / (cmax - 2))
    est.high = 1.0
    est.evidence = (f"{r['chrom']}:{int(r['start']) + 1}-{int(r['end'])} pCN {pcn:.2f}: f >= (pCN - 2)/({cmax:g} - 2) "
                    f"= {est.value:.3f} (tumour CN <= {cmax:g}, ASSUMED)")
    est.counts = {"segments": 1}
    return est


def detection_limit(hs: pd.DataFrame, min_power: float = 0.8) -> tuple:
    """LoD of tumour DNA from the hotspot codons: the smallest f at which a clonal heterozygous mutation (VAF f/2)
    at the median-depth codon reaches ``min_power`` given the hotspots stage's background-aware minimum alt count."""
    if hs is None or not len(hs) or "min_alt_detectable" not in hs.columns:
        return None, "no hotspot table"
    d = hs[hs["min_alt_detectable"].map(parse_float).notna() & hs["depth"].map(parse_float).notna()]
    if not len(d):
        return None, "no codon with a detection threshold"
    depth = d["depth"].map(parse_float).to_numpy()
    kreq = d["min_alt_detectable"].map(parse_float).to_numpy()
    j = int(np.argsort(depth)[len(depth) // 2])
    n, k = int(depth[j]), int(kreq[j])
    grid = np.linspace(0.0005, 0.5, 1000)
    pw = binom_sf(k - 1, n, grid)
    v = float(grid[np.argmax(pw >= min_power)]) if (pw >= min_power).any() else 0.5
    return _clip01(2 * v), (f"LoD f = {2 * v:.4f}: a clonal heterozygous mutation (VAF {v:.4f}) at the median codon "
                            f"depth {n} needs >= {k} alt fragments (background-aware) for power {min_power:g}")
