r"""Hotspot codon genotyping: KRAS/NRAS/BRAF/PIK3CA (any codon in the hotspot table) from a BAM/CRAM.

Method in one paragraph (details and sources: ``docs/hotspots.md``)
-----------------------------------------------------------------
Each codon of the hotspot table is read from the alignment through its index (``fetch`` of the codon
span only, so the cost does not grow with the BAM). Every read that passes the read filters
(duplicate, secondary, supplementary, QC-fail, MAPQ) and aligns across **all three** codon bases
contributes its codon as one unit, so a two-base change in one codon (c.34_35delinsTT) is one
observation of codon TTT -> p.G12F, never two SNVs. The two mates of a fragment are merged base by base
(one fragment = one observation): a base below ``min_baseq`` in one mate is taken from the other;
every base confirmed by both mates -> ``paired``, otherwise ``single``; mates that disagree at a base
both read well are **dropped** (``discordant``, counted) because one of them carries an error and we
cannot tell which. Depth = ``paired + single`` fragments.

A change (all alt codons that encode the same amino acid, pooled) is ``detected`` when its alt
fragments reach ``min_alt_reads``, its VAF reaches ``min_vaf`` (both per sample type) and a one-sided
test against the site's background error is significant after Bonferroni correction over every
possible amino-acid outcome of every codon of the table (20 per codon). The background is a
gamma-Poisson (negative-binomial) model per codon x alt codon x observation class (paired/single),
estimated from the cohort's normal samples and shrunk toward the pooled rate of all hotspot sites with
a between-site weight fitted to the normals (``build_background``); with no normals a configured
default error rate is used.

A codon without detection is ``not_detected`` only when its depth reaches the [TWIST] floor and a
variant at the test VAF (the VAF of a clonal heterozygous variant in this sample: min(sheet fraction / 2,
max somatic VAF); ``lod_vaf`` when the tumour content is unknown) would have been detected with
probability >= ``min_power``; otherwise ``not_evaluable`` with the depth in the reason. A plasma sample
in which no tumour DNA was detected (no somatic hotspot variant and no ctDNA fraction in the sheet)
never yields ``not_detected``: "no ctDNA detected: absence is not evidence".

Public API
----------
``DEFAULTS``, ``load_codons``, ``count_codons``, ``build_background``, ``call_sample``,
``qc_fail_result``, ``write_vcf``, ``run_count``, ``run_background``, ``run_call``,
``vcf_hotspot_hits``, ``resolve_contig``, ``main``.

Command line (registered in ``erbbscreen.cli`` as ``hotspots``)::

    erbb-screen hotspots --bam X.bam --hotspots H.tsv --fasta F.fa --sample-type tumor|plasma \
        [--background B.tsv | --normals N1.bam N2.bam] [--matched-normal N.bam] [--purity P] \
        --out-prefix out/X
"""
from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import cached_property
from itertools import product
from pathlib import Path

import pandas as pd
import pysam
import numpy as np

from erbbscreen.annotation import GENETIC_CODE, complement, read_hotspots, translate_codon
from erbbscreen.errors import InputError
from erbbscreen.tables import read_table, write_table

log = logging.getLogger(__name__)

#: Genes with a biomarker row (docs/biomarkers.md); other genes in the table are genotyped only.
BIOMARKER_GENES = ("KRAS", "NRAS", "BRAF", "PIK3CA")
SAMPLE_TYPES = ("tumor", "plasma")
OBS_CLASSES = ("paired", "single")
#: Amino-acid outcomes of one codon: 20 amino acids + stop; minus the reference = hypotheses per codon.
OUTCOMES_PER_CODON = 20
#: Codons closer than this share one indexed fetch (KRAS G12/G13 ...): performance only.
_FETCH_MERGE_BP = 1000
#: Defaults; identical to the `hotspots:` section of config/config.yaml and the schema defaults
#: (a test checks the three agree). Sources are cited in config/config.yaml and docs/hotspots.md.
DEFAULTS = {
    "min_mapq": 20,
    "min_baseq": 20,
    "exclude_duplicates": True,
    "exclude_secondary": True,
    "exclude_supplementary": True,
    "exclude_qcfail": True,
    "depth_tiers": {"ok": 200, "low": 30},
    "min_alt_reads": {"tumor": 5, "plasma": 3},
    "min_vaf": {"tumor": 0.01, "plasma": 0.001},
    "lod_vaf": {"tumor": 0.05, "plasma": 0.005},
    "min_power": 0.8,
    "alpha": 0.01,
    "default_error_rate": {"single": 0.005, "paired": 0.00005},
    "prior_weight": {"min": 1000, "max": 1000000},
    "min_rate": 1.0e-8,
    "germline_min_normal_vaf": 0.3,
    "germline_min_normal_depth": 30,
    "tumor_fraction_vaf_multiplier": 2.0,
}


def merge_params(params: dict | None) -> dict:
    """DEFAULTS overlaid with ``params`` (nested dicts merged key by key)."""
    out = copy.deepcopy(DEFAULTS)
    for key, val in (params or {}).items():
        if isinstance(val, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **val}
        else:
            out[key] = val
    return out


# ---------------------------------------------------------------------------------------------
# codons
# ---------------------------------------------------------------------------------------------


def resolve_contig(name: str, available) -> str | None:
    """The name under which contig ``name`` appears in ``available``: itself, or the other `chr` style.

    Explicit, symmetric mapping: '3' <-> 'chr3', 'MT' <-> 'chrM'. None when neither is present.
    """
    avail = set(available)
    if name in avail:
        return name
    if name in ("MT", "chrM", "chrMT", "M"):
        for alt in ("chrM", "MT", "chrMT", "M"):
            if alt in avail:
                return alt
        return None
    alt = name[3:] if name.startswith("chr") else "chr" + name
    return alt if alt in avail else None


@dataclass(frozen=True)
class Codon:
    """One hotspot codon; ``positions`` are the 1-based genomic positions of c.first..c.third base."""

    gene: str
    codon: int
    ref_aa: str
    chrom: str
    strand: str
    positions: tuple
    ref_codon: str  # coding-strand bases 5'->3', read from the reference FASTA

    @property
    def key(self) -> tuple:
        return (self.gene, int(self.codon))

    @property
    def in_reference(self) -> bool:
        """False when the reference FASTA lacks the codon's contig or has N there (partial reference)."""
        return bool(self.ref_codon)

    @property
    def label(self) -> str:
        return f"{self.gene} {self.ref_aa}{self.codon}"

    @cached_property
    def pos0(self) -> tuple:
        return tuple(p - 1 for p in self.positions)

    @cached_property
    def span0(self) -> tuple:
        """0-based half-open genomic span of the codon."""
        return (min(self.positions) - 1, max(self.positions))

    @cached_property
    def contiguous(self) -> bool:
        return max(self.positions) - min(self.positions) == 2

    def c_position(self, i: int) -> int:
        """c. position of codon base i (0, 1, 2)."""
        return 3 * (self.codon - 1) + i + 1

    def genomic_base(self, coding_base: str) -> str:
        return coding_base if self.strand == "+" else complement(coding_base)

    def protein_change(self, alt_aa: str) -> str:
        return f"p.{self.ref_aa}{self.codon}{alt_aa}"

    def hgvs_c(self, alt_codon: str) -> str:
        """c. notation of a codon substitution: c.35G>A, or c.34_35delinsTT for several bases."""
        idx = [i for i in range(3) if alt_codon[i] != self.ref_codon[i]]
        if not idx:
            return ""
        if len(idx) == 1:
            i = idx[0]
            return f"c.{self.c_position(i)}{self.ref_codon[i]}>{alt_codon[i]}"
        lo, hi = idx[0], idx[-1]
        return f"c.{self.c_position(lo)}_{self.c_position(hi)}delins{alt_codon[lo:hi + 1]}"


def load_codons(hotspots, fasta) -> list:
    """Hotspot table (path or DataFrame from annotation.read_hotspots) + FASTA -> list of Codon.

    The reference codon is read from the FASTA (contig name matched with or without `chr`); every
    codon must translate to its ``ref_aa`` (InputError listing every mismatch otherwise).
    """
    df = hotspots if isinstance(hotspots, pd.DataFrame) else read_hotspots(hotspots)
    problems, codons = [], []
    try:
        fa = pysam.FastaFile(str(fasta))
    except (OSError, ValueError) as exc:
        raise InputError([f"{fasta}: cannot open FASTA ({exc}); it needs a .fai index beside it (samtools faidx)"])
    with fa:
        for row in df.itertuples(index=False):
            pos = (int(row.pos1), int(row.pos2), int(row.pos3))
            label = f"{row.gene} {row.ref_aa}{row.codon}"
            contig = resolve_contig(str(row.chrom), fa.references)
            if contig is None:  # a reference holding only some chromosomes: reported not_evaluable per codon
                codons.append(Codon(str(row.gene), int(row.codon), str(row.ref_aa), str(row.chrom), str(row.strand),
                                    pos, ""))
                continue
            if max(pos) > fa.get_reference_length(contig):
                problems.append(f"{label}: position {max(pos)} beyond the end of {contig}; wrong genome build?")
                continue
            bases = "".join(fa.fetch(contig, p - 1, p) for p in pos).upper()
            if "N" in bases:  # an N-padded or mostly-N reference: no sequence to call against
                codons.append(Codon(str(row.gene), int(row.codon), str(row.ref_aa), str(row.chrom), str(row.strand),
                                    pos, ""))
                continue
            if row.strand == "-":
                bases = complement(bases)
            if translate_codon(bases) != row.ref_aa:
                problems.append(f"{label}: reference codon {bases} at {contig}:{pos} translates to "
                                f"{translate_codon(bases)}, not {row.ref_aa}; wrong build or strand?")
                continue
            codons.append(Codon(str(row.gene), int(row.codon), str(row.ref_aa), str(row.chrom), str(row.strand),
                                pos, bases))
    if problems:
        raise InputError(problems, header="Hotspot table does not match the reference")
    if codons and not any(cd.in_reference for cd in codons):
        raise InputError([f"no hotspot codon lies on sequence of FASTA {fasta} (contigs absent or N): wrong contig "
                          f"naming or genome build?"], header="Hotspot table does not match the reference")
    return codons


# ---------------------------------------------------------------------------------------------
# counting: reads -> codon observations per fragment
# ---------------------------------------------------------------------------------------------


def _filter_reason(read, p) -> str | None:
    if read.is_unmapped:
        return "unmapped"
    if p["exclude_secondary"] and read.is_secondary:
        return "secondary"
    if p["exclude_supplementary"] and read.is_supplementary:
        return "supplementary"
    if p["exclude_qcfail"] and read.is_qcfail:
        return "qcfail"
    if p["exclude_duplicates"] and read.is_duplicate:
        return "duplicate"
    if read.mapping_quality < p["min_mapq"]:
        return "low_mapq"
    if read.query_length == 0:  # SEQ '*' (e.g. sequences stripped before sharing): aligned, but no base to read
        return "no_sequence"
    return None


_COMP = {"A": "T", "C": "G", "G": "C", "T": "A"}


def _read_codon(read, cd: Codon, min_bq: int):
    """What one read shows at a codon (coding order).

    None = does not align across all three bases; 'indel' = a deletion at, or an insertion inside, the
    codon; else a 3-tuple of coding-strand bases with None for a base below ``min_bq`` (or N).
    """
    lo, hi = cd.span0[0], cd.span0[1] - 1
    start, end = read.reference_start, read.reference_end
    if end is None or start > lo or end <= hi:
        return None
    targets = cd.pos0
    cig = read.cigartuples
    minus = cd.strand == "-"
    if len(cig) == 1 and cig[0][0] in (0, 7, 8):  # fast path: one aligned block
        seq = read.query_sequence
        quals = read.query_qualities
        bases = []
        for t in targets:
            qp = t - start
            b = seq[qp]
            ok = b in "ACGT" and (quals[qp] >= min_bq if quals is not None else min_bq <= 0)
            bases.append((_COMP[b] if minus else b) if ok else None)
        return tuple(bases)
    qpos = {}
    indel = False
    ref, q = start, 0
    for op, ln in cig:
        if op in (0, 7, 8):  # M, =, X
            for t in targets:
                if ref <= t < ref + ln:
                    qpos[t] = q + t - ref
            ref += ln
            q += ln
        elif op == 1:  # insertion before reference position `ref`
            if cd.contiguous and lo < ref <= hi:
                indel = True
            q += ln
        elif op == 2:  # deletion
            for t in targets:
                if ref <= t < ref + ln:
                    qpos[t] = -1
            ref += ln
        elif op == 3:  # skipped region: bases there are not covered
            ref += ln
        elif op == 4:  # soft clip
            q += ln
        if ref > hi:
            break
    if len(qpos) < 3:
        return None
    if indel or any(v < 0 for v in qpos.values()):
        return "indel"
    seq = read.query_sequence
    quals = read.query_qualities
    bases = []
    for t in targets:
        qp = qpos[t]
        b = seq[qp]
        ok = b in "ACGT" and (quals[qp] >= min_bq if quals is not None else min_bq <= 0)
        bases.append((_COMP[b] if minus else b) if ok else None)
    return tuple(bases)


def _merge_mates(a, b):
    """One fragment's observation from its mates' codon reads -> (kind, allele).

    kind: 'paired' (every base seen at good quality by both mates, agreeing), 'single' (a complete codon,
    some base seen by one mate only), 'discordant' (both mates saw a base at good quality and disagree,
    or one shows an indel and the other a complete codon: dropped), 'lowqual' (some base seen by no mate
    at good quality), or None (no mate covers the codon).
    """
    obs = [x for x in (a, b) if x is not None]
    if not obs:
        return None, ""
    if len(obs) == 1:
        x = obs[0]
        if x == "indel":
            return "single", "indel"
        return ("single", "".join(x)) if None not in x else ("lowqual", "")
    a, b = obs
    if a == "indel" or b == "indel":
        if a == b:
            return "paired", "indel"
        other = b if a == "indel" else a
        return ("discordant", "") if None not in other else ("single", "indel")
    merged, both = [], True
    for x, y in zip(a, b):
        if x is not None and y is not None:
            if x != y:
                return "discordant", ""
            merged.append(x)
        else:
            both = False
            merged.append(x if x is not None else y)
    if None in merged:
        return "lowqual", ""
    return ("paired" if both else "single"), "".join(merged)


def _groups(codons, contigs):
    """Codons grouped per contig into windows fetched once each: [(contig, start0, end0, [codons])]."""
    by_contig = defaultdict(list)
    for cd in codons:
        contig = resolve_contig(cd.chrom, contigs)
        if contig is not None:
            by_contig[contig].append(cd)
    out = []
    for contig, cds in by_contig.items():
        cds.sort(key=lambda c: c.span0)
        cur = [cds[0]]
        s, e = cds[0].span0
        for cd in cds[1:]:
            if cd.span0[0] - e <= _FETCH_MERGE_BP:
                cur.append(cd)
                e = max(e, cd.span0[1])
            else:
                out.append((contig, s, e, cur))
                cur, (s, e) = [cd], cd.span0
        out.append((contig, s, e, cur))
    return out


COUNT_COLUMNS = ["gene", "codon", "kind", "allele", "count"]


def count_codons(bam_path, codons, params: dict | None = None, reference=None) -> pd.DataFrame:
    """Fragment-level codon counts for every codon, read through the index only.

    Returns a long table ``gene, codon, kind, allele, count`` where ``kind`` is
    ``paired``/``single`` (allele = observed codon or 'indel'), ``discordant`` (mates disagree, dropped),
    ``lowqual`` (fragments in which some codon base was seen at good quality by no mate), ``filtered`` (reads removed,
    allele = reason) or ``missing_contig`` (the codon's contig is not in the alignment header).
    """
    p = merge_params(params)
    rows = []
    mode = "rc" if str(bam_path).endswith(".cram") else "rb"
    kwargs = {"reference_filename": str(reference)} if reference and mode == "rc" else {}
    with pysam.AlignmentFile(str(bam_path), mode, **kwargs) as bam:
        contigs = bam.references
        for cd in codons:
            if not cd.in_reference:
                rows.append((cd.gene, cd.codon, "missing_reference", cd.chrom, 1))
            elif resolve_contig(cd.chrom, contigs) is None:
                rows.append((cd.gene, cd.codon, "missing_contig", cd.chrom, 1))
        for contig, s, e, group in _groups([cd for cd in codons if cd.in_reference], contigs):
            frags = {cd.key: {} for cd in group}
            filt = {cd.key: Counter() for cd in group}
            for read in bam.fetch(contig, s, e):
                rs, re_ = read.reference_start, read.reference_end
                if re_ is None:
                    continue
                reason = _filter_reason(read, p)
                for cd in group:
                    c0, c1 = cd.span0
                    if rs >= c1 or re_ <= c0:
                        continue
                    if reason:
                        filt[cd.key][reason] += 1
                        continue
                    obs = _read_codon(read, cd, p["min_baseq"])
                    if obs is None:
                        continue
                    slot = 1 if read.is_read2 else 0
                    pair = frags[cd.key].setdefault(read.query_name, [None, None])
                    if pair[slot] is not None:  # same name + same mate twice: keep the first
                        filt[cd.key]["duplicate_name"] += 1
                        continue
                    pair[slot] = obs
            for cd in group:
                tally = Counter()
                for a, b in frags[cd.key].values():
                    kind, allele = _merge_mates(a, b)
                    if kind is not None:
                        tally[(kind, allele)] += 1
                for (kind, allele), n in sorted(tally.items()):
                    rows.append((cd.gene, cd.codon, kind, allele, n))
                for reason, n in sorted(filt[cd.key].items()):
                    rows.append((cd.gene, cd.codon, "filtered", reason, n))
    return pd.DataFrame(rows, columns=COUNT_COLUMNS)


def qc_fail_counts(reason: str) -> pd.DataFrame:
    """Counts file of a sample whose QC failed: one ``qc_fail`` row carrying the reason."""
    return pd.DataFrame([("", 0, "qc_fail", reason, 0)], columns=COUNT_COLUMNS)


def read_counts(path) -> pd.DataFrame:
    df = read_table(path)
    for c in COUNT_COLUMNS:
        if c not in df.columns:
            raise InputError([f"{path}: hotspot counts file lacks column {c!r} (expected {', '.join(COUNT_COLUMNS)})"])
    df = df.copy()
    df["codon"] = pd.to_numeric(df["codon"], errors="coerce").fillna(0).astype("int64")
    df["count"] = pd.to_numeric(df["count"], errors="coerce").fillna(0).astype("int64")
    return df


def counts_failed(counts: pd.DataFrame) -> str | None:
    """The QC reason when ``counts`` is a QC-fail placeholder, else None."""
    hit = counts[counts["kind"] == "qc_fail"]
    return str(hit["allele"].iloc[0]) if len(hit) else None


@dataclass
class CodonObs:
    """Observations at one codon in one sample."""

    paired: Counter
    single: Counter
    discordant: int = 0
    lowqual: int = 0
    filtered: Counter = None
    missing_contig: bool = False
    missing_reference: bool = False

    @property
    def depth(self) -> int:
        return sum(self.paired.values()) + sum(self.single.values())

    def n(self, cls: str) -> int:
        return sum(getattr(self, cls).values())

    def alt(self, alt_codons) -> int:
        return sum(self.paired.get(a, 0) + self.single.get(a, 0) for a in alt_codons)


def observations(counts: pd.DataFrame) -> dict:
    """Counts table -> {(gene, codon): CodonObs}."""
    out = defaultdict(lambda: CodonObs(Counter(), Counter(), 0, 0, Counter()))
    for row in counts.itertuples(index=False):
        if row.kind == "qc_fail":
            continue
        o = out[(row.gene, int(row.codon))]
        n = int(row.count)
        if row.kind in OBS_CLASSES:
            getattr(o, row.kind)[row.allele] += n
        elif row.kind == "discordant":
            o.discordant += n
        elif row.kind == "lowqual":
            o.lowqual += n
        elif row.kind == "filtered":
            o.filtered[row.allele] += n
        elif row.kind == "missing_contig":
            o.missing_contig = True
        elif row.kind == "missing_reference":
            o.missing_reference = True
    return dict(out)


# ---------------------------------------------------------------------------------------------
# background error model from normals
# ---------------------------------------------------------------------------------------------

BACKGROUND_COLUMNS = ["gene", "codon", "obs_class", "alt_codon", "n_changes", "alt_fragments", "depth",
                      "n_normals", "germline_normals", "prior_rate", "prior_weight", "background_rate", "source"]


def _alt_codons(ref_codon: str):
    for bases in product("ACGT", repeat=3):
        alt = "".join(bases)
        if alt != ref_codon:
            yield alt, sum(1 for a, b in zip(alt, ref_codon) if a != b)


def _default_rate(params, cls, n_changes) -> float:
    """Default rate of one specific alt codon: (per-base rate / 3) ** number of changed bases."""
    per_base = float(params["default_error_rate"][cls])
    return max((per_base / 3.0) ** n_changes, float(params["min_rate"]))


def _fit_prior_weight(pairs, mu: float, w_min: float, w_max: float) -> float:
    """Empirical Bayes: the prior weight w maximising the marginal likelihood of per-site error counts.

    ``pairs``: [(alt fragments, depth)] per site x alt codon in the normals; each is NegBin(shape = w * mu,
    p = w / (w + depth)) when the site's rate ~ Gamma(w * mu, w). Sites that agree with one common rate push
    w to ``w_max`` (Poisson); sites that differ (site-specific artefacts) pull it down. Grid search, 61 points
    per range on a log scale.
    """
    from scipy import special  # lazy: scipy.stats costs ~1 s of import; counting jobs never need it

    pairs = [(a, d) for a, d in pairs if d > 0]
    if not pairs or mu <= 0:
        return float(w_min)
    a = np.array([x[0] for x in pairs], dtype=float)
    d = np.array([x[1] for x in pairs], dtype=float)
    best_w, best_ll = float(w_min), -math.inf
    for w in np.logspace(math.log10(w_min), math.log10(w_max), 61):
        r = w * mu
        ll = float(np.sum(special.gammaln(a + r) - special.gammaln(r) - special.gammaln(a + 1)
                          + r * np.log(w / (w + d)) + a * np.log(d / (w + d))))
        if ll > best_ll + 1e-9:
            best_w, best_ll = float(w), ll
    return best_w


def build_background(normal_counts: dict, codons, params: dict | None = None) -> pd.DataFrame:
    """Per codon x observation class x alt codon background error rate from normal samples.

    ``normal_counts``: {sample_id: counts DataFrame} (QC-failed placeholders are skipped). In each normal,
    an alt codon at germline-like VAF (>= germline_min_normal_vaf at depth >= germline_min_normal_depth)
    is excluded from that normal's contribution (it is not an error) and counted in ``germline_normals``.

    Model (per class, paired/single): a site's rate for one alt codon ~ Gamma(w * prior_rate, w), where
    ``prior_rate`` = pooled rate of all hotspot sites with the same number of changed bases (the configured
    default enters as one pseudo-observation of weight w_min) and ``prior_weight`` w is fitted to the
    normals' single-base counts by maximum marginal likelihood within [prior_weight.min, prior_weight.max]
    (no normals: w = prior_weight.min around the default rate). ``background_rate`` is the posterior mean
    (alt + w * prior) / (depth + w). Cost: one pass over each normal's counts (linear in normals).
    """
    p = merge_params(params)
    w_min, w_max = float(p["prior_weight"]["min"]), float(p["prior_weight"]["max"])
    usable = {s: observations(c) for s, c in normal_counts.items() if counts_failed(c) is None}
    alt_n, dep_n, nn, germ = Counter(), Counter(), Counter(), Counter()
    codons = [cd for cd in codons if cd.in_reference]
    for obs in usable.values():
        for cd in codons:
            o = obs.get(cd.key)
            if o is None or o.missing_contig:
                continue
            tot = o.depth
            if tot == 0:
                continue
            for alt, _m in _alt_codons(cd.ref_codon):
                a_all = o.alt([alt])
                if tot >= p["germline_min_normal_depth"] and a_all / tot >= p["germline_min_normal_vaf"]:
                    germ[(cd.key, alt)] += 1
                    continue
                for cls in OBS_CLASSES:
                    alt_n[(cd.key, cls, alt)] += getattr(o, cls).get(alt, 0)
                    dep_n[(cd.key, cls, alt)] += o.n(cls)
                nn[(cd.key, alt)] += 1
    # pooled prior mean per class and number of changed bases
    pool_a, pool_d = Counter(), Counter()
    for cd in codons:
        for alt, m in _alt_codons(cd.ref_codon):
            for cls in OBS_CLASSES:
                pool_a[(cls, m)] += alt_n[(cd.key, cls, alt)]
                pool_d[(cls, m)] += dep_n[(cd.key, cls, alt)]
    prior, weight = {}, {}
    for cls in OBS_CLASSES:
        for m in (1, 2, 3):
            d0 = _default_rate(p, cls, m)
            prior[(cls, m)] = max((pool_a[(cls, m)] + w_min * d0) / (pool_d[(cls, m)] + w_min), float(p["min_rate"]))
        pairs = [(alt_n[(cd.key, cls, alt)], dep_n[(cd.key, cls, alt)])
                 for cd in codons for alt, m in _alt_codons(cd.ref_codon) if m == 1]
        weight[cls] = _fit_prior_weight(pairs, prior[(cls, 1)], w_min, w_max) if usable else w_min
    source = f"normals (n={len(usable)})" if usable else "default (no normals)"
    rows = []
    for cd in codons:
        for cls in OBS_CLASSES:
            w = weight[cls]
            for alt, m in _alt_codons(cd.ref_codon):
                a, d = alt_n[(cd.key, cls, alt)], dep_n[(cd.key, cls, alt)]
                pr = prior[(cls, m)]
                rows.append((cd.gene, cd.codon, cls, alt, m, a, d, nn[(cd.key, alt)], germ[(cd.key, alt)],
                             pr, w, (a + w * pr) / (d + w), source))
    return pd.DataFrame(rows, columns=BACKGROUND_COLUMNS)


#: p-values are reported no smaller than this (below it floating point has nothing left to say)
_P_FLOOR = 1e-300


class Background:
    """Gamma-Poisson background per (codon, class, alt codon); default rates where the table is silent."""

    def __init__(self, table: pd.DataFrame | None, params: dict):
        self.p = params
        self.w = float(params["prior_weight"]["min"])  # rows absent from the table: default rate, min weight
        self.rows = {}
        self.germline = Counter()
        self.sources = set()
        if table is not None and len(table):
            for r in table.itertuples(index=False):
                key = ((str(r.gene), int(r.codon)), str(r.obs_class), str(r.alt_codon))
                self.rows[key] = (float(r.alt_fragments), float(r.depth), float(r.prior_rate), float(r.prior_weight))
                self.germline[((str(r.gene), int(r.codon)), str(r.alt_codon))] = max(
                    self.germline[((str(r.gene), int(r.codon)), str(r.alt_codon))], int(float(r.germline_normals)))
                self.sources.add(str(r.source))

    def source(self, key) -> str:
        has = any(k[0] == key for k in self.rows)
        if not has:
            return "default (codon not in background table)"
        return sorted(self.sources)[0] if self.sources else "default"

    def gamma(self, key, cls, alt_codon, ref_codon) -> tuple:
        """(shape, rate) of the site's error-rate distribution."""
        hit = self.rows.get((key, cls, alt_codon))
        if hit is None:
            m = sum(1 for a, b in zip(alt_codon, ref_codon) if a != b)
            a, d, pr, w = 0.0, 0.0, _default_rate(self.p, cls, m), self.w
        else:
            a, d, pr, w = hit
        return a + w * pr, d + w

    def rate(self, key, alt_codons, ref_codon) -> dict:
        """Posterior mean error rate per class, summed over ``alt_codons``."""
        out = {}
        for cls in OBS_CLASSES:
            tot = 0.0
            for alt in alt_codons:
                sh, rt = self.gamma(key, cls, alt, ref_codon)
                tot += sh / rt
            out[cls] = tot
        return out

    def _class_params(self, key, alt_codons, ref_codon, n_by_class):
        """[(shape, p)] of the negative binomial of error counts per class with fragments (alt codons pooled)."""
        out = []
        for cls in OBS_CLASSES:
            n = n_by_class.get(cls, 0)
            if n <= 0:
                continue
            shape, rate = 0.0, math.inf
            for alt in alt_codons:
                sh, rt = self.gamma(key, cls, alt, ref_codon)
                shape += sh
                rate = min(rate, rt)  # the smaller rate parameter = the larger mean: conservative
            out.append((shape, rate / (rate + n)))
        return out

    def tail(self, key, alt_codons, ref_codon, n_by_class: dict, kmax: int) -> np.ndarray:
        """P(X >= k) for k = 0..kmax, X = sum over classes of NegBin(shape, rate / (rate + n_class)).

        Gamma-Poisson: a site's error rate ~ Gamma(shape, rate) (normals + pooled prior), counts Poisson given
        the rate; alt codons encoding the same amino acid are pooled (shapes add).
        """
        from scipy import special  # lazy: scipy.stats costs ~1 s of import; counting jobs never need it

        ks = np.arange(kmax + 1)
        params = self._class_params(key, alt_codons, ref_codon, n_by_class)
        if not params:
            out = np.zeros(kmax + 1)
            out[0] = 1.0
            return out
        sfs, pmfs = [], []
        for r, p in params:
            # sf(k-1) = P(X >= k) = I_{1-p}(k, r) for k >= 1; = 1 for k = 0
            ge = np.ones(kmax + 1)
            ge[1:] = special.betainc(ks[1:], r, 1.0 - p)
            sfs.append(ge)
            pmfs.append(np.exp(special.gammaln(ks + r) - special.gammaln(r) - special.gammaln(ks + 1)
                               + r * math.log(p) + ks * math.log1p(-p)))
        if len(params) == 1:
            return np.clip(sfs[0], _P_FLOOR, 1.0)
        # P(X1 + X2 >= k) = sum_{j=0}^{k-1} P(X1 = j) P(X2 >= k - j) + P(X1 >= k)
        ge2_shift = sfs[1][1:]                              # ge2_shift[i] = P(X2 >= i + 1)
        conv = np.convolve(pmfs[0], ge2_shift)[:kmax]       # conv[m] = sum_{j<=m} P(X1 = j) P(X2 >= m + 1 - j)
        out = np.ones(kmax + 1)
        out[1:] = conv + sfs[0][1:]
        return np.clip(out, _P_FLOOR, 1.0)

    def pvalue(self, key, alt_codons, ref_codon, n_by_class: dict, k: int) -> float:
        """One-sided P(X >= k) under the site's background (see :meth:`tail`)."""
        if k <= 0:
            return 1.0
        return float(self.tail(key, alt_codons, ref_codon, n_by_class, k)[k])


def read_background(path) -> pd.DataFrame:
    df = read_table(path)
    missing = [c for c in BACKGROUND_COLUMNS if c not in df.columns]
    if missing:
        raise InputError([f"{path}: background table lacks column(s) {', '.join(missing)}"])
    return df


# ---------------------------------------------------------------------------------------------
# calling one sample
# ---------------------------------------------------------------------------------------------


def _aa_groups(ref_codon: str) -> dict:
    """{alt amino acid: [alt codons]} for every non-synonymous outcome (stop = '*')."""
    ref_aa = GENETIC_CODE[ref_codon]
    groups = defaultdict(list)
    for alt, _m in _alt_codons(ref_codon):
        aa = GENETIC_CODE[alt]
        if aa != ref_aa:
            groups[aa].append(alt)
    return dict(groups)


def _single_base_groups(ref_codon: str) -> dict:
    ref_aa = GENETIC_CODE[ref_codon]
    groups = defaultdict(list)
    for alt, m in _alt_codons(ref_codon):
        if m == 1 and GENETIC_CODE[alt] != ref_aa:
            groups[GENETIC_CODE[alt]].append(alt)
    return dict(groups)


def depth_tier(depth: int, p: dict) -> str:
    """[TWIST] hotspot_report.levels: ok / low / not_analyzable."""
    if depth >= p["depth_tiers"]["ok"]:
        return "ok"
    if depth >= p["depth_tiers"]["low"]:
        return "low"
    return "not_analyzable"


def _fmt(x, digits=4):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return f"{x:.{digits}g}"


@dataclass
class _Test:
    aa: str
    alt_codons: list
    alt: int
    vaf: float
    pvalue: float
    padj: float
    rate: float
    significant: bool


def _k_required(bg, cd, alt_codons, n_by_class, depth, p, st, n_tests) -> int | None:
    """Smallest alt count that the sample's thresholds and the background test would call (None: none <= depth)."""
    kmin = max(int(p["min_alt_reads"][st]), int(math.ceil(p["min_vaf"][st] * depth - 1e-12)), 1)
    if kmin > depth:
        return None
    kmax = min(depth, max(64, 2 * kmin))
    while True:
        tail = bg.tail(cd.key, alt_codons, cd.ref_codon, n_by_class, kmax)
        ok = np.nonzero(tail[kmin:] * n_tests < p["alpha"])[0]
        if ok.size:
            return int(kmin + ok[0])
        if kmax >= depth:
            return None
        kmax = min(depth, kmax * 8)


def call_sample(counts: pd.DataFrame, codons, sample: dict, background: pd.DataFrame | None = None,
                matched_normals: dict | None = None, params: dict | None = None):
    """Genotype every codon of one tumour/plasma sample from its counts.

    ``sample``: dict(sample_id, patient_id, sample_type, purity or None). ``matched_normals``:
    {sample_id: counts DataFrame} of the patient's normal samples (germline check).
    Returns ``(hotspot_rows DataFrame, biomarker_rows DataFrame, calls list for write_vcf)``.
    """
    p = merge_params(params)
    st = sample["sample_type"]
    if st not in SAMPLE_TYPES:
        raise InputError([f"sample {sample['sample_id']}: sample_type {st!r}; hotspot calling needs tumor or plasma"])
    failed = counts_failed(counts)
    if failed is not None:
        return qc_fail_result(codons, sample, failed)
    bg = Background(background, p)
    obs = observations(counts)
    normals = {s: observations(c) for s, c in (matched_normals or {}).items() if counts_failed(c) is None}
    n_tests = OUTCOMES_PER_CODON * len(codons)
    alpha = p["alpha"]
    results = []
    for cd in codons:
        o = obs.get(cd.key) or CodonObs(Counter(), Counter(), 0, 0, Counter())
        depth = o.depth
        n_by_class = {cls: o.n(cls) for cls in OBS_CLASSES}
        res = dict(cd=cd, obs=o, depth=depth, tests=[], main=None, others=[], germline=False, germline_reason="")
        if not cd.in_reference:
            res["fixed_reason"] = (f"codon not in the reference: contig {cd.chrom} is absent from the reference FASTA "
                                   f"or N at {cd.chrom}:{min(cd.positions)}-{max(cd.positions)} (partial reference)")
            results.append(res)
            continue
        if o.missing_contig:
            res["fixed_reason"] = f"contig {cd.chrom} not in the alignment header (also tried the other 'chr' style)"
            results.append(res)
            continue
        for aa, alts in _aa_groups(cd.ref_codon).items():
            alt = o.alt(alts)
            if alt == 0:
                continue
            vaf = alt / depth
            pv = bg.pvalue(cd.key, alts, cd.ref_codon, n_by_class, alt)
            padj = min(1.0, pv * n_tests)
            rate = sum(bg.rate(cd.key, alts, cd.ref_codon)[c] * n_by_class[c] for c in OBS_CLASSES) / max(depth, 1)
            sig = alt >= p["min_alt_reads"][st] and vaf >= p["min_vaf"][st] and padj < alpha
            res["tests"].append(_Test(aa, [a for a in alts if o.alt([a])], alt, vaf, pv, padj, rate, sig))
        res["tests"].sort(key=lambda t: (-t.significant, -t.alt, t.padj))
        sig = [t for t in res["tests"] if t.significant]
        if sig:
            res["main"], res["others"] = sig[0], sig[1:]
            germ = _germline_like(cd, sig[0], normals, bg, p)
            res["germline"], res["germline_reason"] = germ is not None, germ or ""
        results.append(res)

    # sample-level: somatic maximum VAF, tumour DNA evidence
    somatic = [r for r in results if r["main"] is not None and not r["germline"]]
    top = max(somatic, key=lambda r: r["main"].vaf) if somatic else None
    max_vaf = top["main"].vaf if top else None
    purity = sample.get("purity")
    purity = None if purity is None or (isinstance(purity, float) and math.isnan(purity)) or purity == "" else float(purity)
    mult = float(p["tumor_fraction_vaf_multiplier"])
    # VAF of a clonal heterozygous variant in this sample: the smaller of the sheet's fraction / multiplier and
    # the max somatic VAF; unknown tumour content -> the fixed LOD of the sample type
    clonal = [v for v in (max_vaf, purity / mult if purity is not None else None) if v is not None]
    lod = float(p["lod_vaf"][st])
    test_vaf = min(clonal) if clonal else lod
    test_basis = ("clonal heterozygous VAF (" + ("max somatic VAF" if max_vaf is not None and min(clonal) == max_vaf
                                                  else "sheet fraction / 2") + ")") if clonal else f"{st} LOD"
    tumour_dna = top is not None or purity is not None

    rows, calls = [], []
    for r in results:
        rows.append(_codon_row(r, sample, p, bg, tumour_dna, test_vaf, test_basis, max_vaf, n_tests))
        if r["main"] is not None:
            for t in [r["main"]] + r["others"]:
                calls.append(dict(codon=r["cd"], test=t, depth=r["depth"], obs=r["obs"], germline=r["germline"],
                                  relative_clonality=(100.0 * t.vaf / max_vaf if max_vaf and not r["germline"] else None)))
    table = pd.DataFrame(rows)
    biom = _biomarkers(rows, sample, p)
    return table, biom, calls


def _germline_like(cd, t: _Test, normals: dict, bg: Background, p: dict) -> str | None:
    """Why a detection looks germline (matched normal first, else any cohort normal), or None."""
    checked = False
    for sid, nobs in normals.items():
        o = nobs.get(cd.key)
        if o is None or o.depth < p["germline_min_normal_depth"]:
            continue
        checked = True
        vaf = o.alt(t.alt_codons) / o.depth
        if vaf >= p["germline_min_normal_vaf"]:
            return (f"germline-like: matched normal {sid} VAF {vaf:.3f} (>= {p['germline_min_normal_vaf']}) at depth "
                    f"{o.depth}")
    if not checked:
        n = max((bg.germline[(cd.key, a)] for a in t.alt_codons), default=0)
        if n:
            return (f"germline-like: seen at VAF >= {p['germline_min_normal_vaf']} in {n} cohort normal(s); no "
                    f"evaluable matched normal")
    return None


def _codon_row(r, sample, p, bg, tumour_dna, test_vaf, test_basis, max_vaf, n_tests) -> dict:
    cd, o, depth = r["cd"], r["obs"], r["depth"]
    st = sample["sample_type"]
    row = dict(sample_id=sample["sample_id"], patient_id=sample["patient_id"], sample_type=st, gene=cd.gene,
               codon=cd.codon, depth=depth, alt_reads=0, vaf="", protein_change="", relative_clonality="",
               status="", reason="")
    top = r["tests"][0] if r["tests"] else None
    extra = dict(ref_aa=cd.ref_aa, chrom=cd.chrom, strand=cd.strand,
                 positions=",".join(str(x) for x in cd.positions), ref_codon=cd.ref_codon, alt_codon="", hgvs_c="",
                 p_value="", p_adj="", background_rate="", background_source=bg.source(cd.key),
                 depth_tier=depth_tier(depth, p), depth_paired=o.n("paired"), depth_single=o.n("single"),
                 discordant_fragments=o.discordant, lowqual_fragments=o.lowqual,
                 filtered_reads=";".join(f"{k}:{v}" for k, v in sorted((o.filtered or {}).items())),
                 other_changes="", germline_like="", test_vaf="", power="", power_at_lod="",
                 min_alt_detectable="",
                 other_alleles=_other_alleles(o, cd, r))
    row.update(extra)
    if "fixed_reason" in r:
        row.update(status="not_evaluable", reason=r["fixed_reason"])
        return row
    if top is not None:
        row.update(alt_reads=top.alt, vaf=_fmt(top.vaf), alt_codon=",".join(top.alt_codons),
                   hgvs_c=",".join(cd.hgvs_c(a) for a in top.alt_codons), p_value=_fmt(top.pvalue, 3),
                   p_adj=_fmt(top.padj, 3), background_rate=_fmt(top.rate, 3))
    else:
        row.update(vaf=_fmt(0.0) if depth else "")
    m = r["main"]
    if m is not None:
        pc = cd.protein_change(m.aa)
        rc = 100.0 * m.vaf / max_vaf if (max_vaf and not r["germline"]) else None
        row.update(protein_change=pc, status="detected",
                   relative_clonality=_fmt(rc, 4) if rc is not None else "",
                   germline_like="yes" if r["germline"] else "no",
                   other_changes=";".join(f"{cd.protein_change(t.aa)}:{t.alt}:{_fmt(t.vaf)}" for t in r["others"]))
        why = (f"{pc} ({row['hgvs_c']}) in {m.alt}/{depth} fragments, VAF {m.vaf:.4f}; background "
               f"{m.rate:.2g}/fragment, one-sided p {m.pvalue:.2g}, Bonferroni x{n_tests} = {m.padj:.2g} < "
               f"alpha {p['alpha']}; thresholds ({st}): alt >= {p['min_alt_reads'][st]}, VAF >= {p['min_vaf'][st]}")
        if r["germline"]:
            why += f"; {r['germline_reason']} (excluded from max somatic VAF / tumour fraction)"
        row["reason"] = why
        return row
    # no detection: is absence shown?
    tiers = p["depth_tiers"]
    if depth < tiers["low"]:
        why = f"depth {depth} < {tiers['low']} fragments ([TWIST] not analyzable)"
        if (o.filtered or {}).get("no_sequence"):
            why += (f"; {o.filtered['no_sequence']} reads cover the codon but carry no sequence (SEQ '*' in the "
                    f"alignment file): no base can be read")
        row.update(status="not_evaluable", reason=why)
        return row
    ks = []
    n_by_class = {cls: o.n(cls) for cls in OBS_CLASSES}
    for aa, alts in _single_base_groups(cd.ref_codon).items():
        ks.append(_k_required(bg, cd, alts, n_by_class, depth, p, st, n_tests))
    k_req = None if (not ks or any(k is None for k in ks)) else max(ks)
    lod = float(p["lod_vaf"][st])
    from erbbscreen.distributions import binom_sf  # lazy, as scipy.special in _fit_prior_weight

    power = float(binom_sf(k_req - 1, depth, test_vaf)) if k_req else 0.0
    power_lod = float(binom_sf(k_req - 1, depth, lod)) if k_req else 0.0
    row.update(test_vaf=_fmt(test_vaf), power=_fmt(power, 3), power_at_lod=_fmt(power_lod, 3),
               min_alt_detectable=k_req or "")
    near = ""
    if top is not None:
        near = (f"; largest alt {cd.protein_change(top.aa)} {top.alt} fragment(s), p_adj {top.padj:.2g} "
                f"(not significant or below thresholds)")
    if st == "plasma" and not tumour_dna:
        row.update(status="not_evaluable",
                   reason=(f"no ctDNA detected: absence is not evidence (depth {depth}, no somatic hotspot variant "
                           f"and no ctDNA fraction in the sample sheet){near}"))
        return row
    if power < p["min_power"]:
        row.update(status="not_evaluable",
                   reason=(f"depth {depth} (tier {row['depth_tier']}): power {power:.2f} < {p['min_power']} to detect "
                           f"VAF {test_vaf:.3g} [{test_basis}] (needs >= {k_req or 'n/a'} alt fragments){near}"))
        return row
    caveat = f", depth tier {row['depth_tier']} [TWIST]" if row["depth_tier"] != "ok" else ""
    if power_lod < p["min_power"]:
        caveat += f"; subclonal variants near the {st} LOD {lod:g} may be missed (power {power_lod:.2f})"
    syn = [a for a in str(row["other_alleles"]).split(";") if "(syn)" in a]
    if syn:  # a real synonymous SNP at the codon is seen, not hidden: it changes no amino acid
        near += f"; synonymous allele(s) {', '.join(syn)} of {depth} fragments"
    row.update(status="not_detected",
               reason=(f"no protein-changing variant: depth {depth}, power {power:.2f} to detect VAF {test_vaf:.3g} "
                       f"[{test_basis}] (>= {k_req} alt fragments){caveat}{near}"))
    return row


def _other_alleles(o: CodonObs, cd: Codon, r) -> str:
    """Every non-reference allele seen (codon:count), incl. synonymous and indel observations."""
    seen = Counter()
    for cls in OBS_CLASSES:
        for allele, n in getattr(o, cls).items():
            if allele != cd.ref_codon:
                seen[allele] += n
    parts = []
    for allele, n in seen.most_common():
        if allele == "indel":
            parts.append(f"indel:{n}")
        else:
            aa = translate_codon(allele)
            tag = "syn" if aa == cd.ref_aa else cd.protein_change(aa)
            parts.append(f"{allele}({tag}):{n}")
    return ";".join(parts)


def _num(x):
    if x == "" or x is None:
        return None
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def _biomarkers(rows: list, sample, p) -> pd.DataFrame:
    """Biomarker rows (docs/biomarkers.md) from the per-codon rows of one sample (TUMOR_FRACTION: the purity
    stage, docs/purity.md)."""
    out = []
    base = dict(patient_id=sample["patient_id"], sample_id=sample["sample_id"], sample_type=sample["sample_type"])
    for gene in BIOMARKER_GENES:
        sub = [r for r in rows if r["gene"] == gene]
        details = {"codons": {}}
        for r in sub:
            details["codons"][str(int(r["codon"]))] = {
                "status": r["status"], "protein_change": r["protein_change"], "vaf": _num(r["vaf"]),
                "depth": int(r["depth"]), "alt_reads": int(r["alt_reads"]),
                "relative_clonality": _num(r["relative_clonality"]), "reason": r["reason"],
                "depth_tier": r["depth_tier"], "test_vaf": _num(r["test_vaf"]), "power": _num(r["power"]),
                "power_at_lod": _num(r["power_at_lod"]), "germline_like": r["germline_like"] == "yes"}
        if not sub:
            out.append(dict(base, biomarker=gene, status="not_evaluable", value="",
                            evidence=f"no {gene} codon in the hotspot table", details=json.dumps(details)))
            continue
        det = [r for r in sub if r["status"] == "detected"]
        ne = [r for r in sub if r["status"] == "not_evaluable"]
        if det:
            ev = "; ".join(f"codon {r['codon']} {r['protein_change']} VAF {r['vaf']} ({r['alt_reads']}/{r['depth']})"
                           + (f", relative clonality {r['relative_clonality']}%" if r["relative_clonality"] else "")
                           + (" [germline-like]" if r["germline_like"] == "yes" else "")
                           for r in det)
            if ne:
                ev += f"; not evaluable: codon(s) {','.join(str(r['codon']) for r in ne)}"
            out.append(dict(base, biomarker=gene, status="positive", value=",".join(r["protein_change"] for r in det),
                            evidence=f"{gene} {ev}", details=json.dumps(details)))
        elif ne:
            ev = "; ".join(f"codon {r['codon']}: {r['reason']}" for r in ne)
            out.append(dict(base, biomarker=gene, status="not_evaluable", value="",
                            evidence=f"{gene} not evaluable at {len(ne)}/{len(sub)} codon(s): {ev}",
                            details=json.dumps(details)))
        else:
            mind = min(int(r["depth"]) for r in sub)
            out.append(dict(base, biomarker=gene, status="negative", value="",
                            evidence=(f"{gene} codons {','.join(str(r['codon']) for r in sub)} all measured (min depth "
                                      f"{mind} fragments), no variant detected; power >= {p['min_power']} at VAF "
                                      f"{sub[0]['test_vaf']}"),
                            details=json.dumps(details)))
    return pd.DataFrame(out)


def qc_fail_result(codons, sample: dict, reason: str):
    """Outputs of a sample whose QC failed: every codon and biomarker not_evaluable; BAM never opened."""
    why = f"sample failed QC: {reason}" if reason else "sample failed QC"
    rows = [dict(sample_id=sample["sample_id"], patient_id=sample["patient_id"], sample_type=sample["sample_type"],
                 gene=cd.gene, codon=cd.codon, depth="", alt_reads="", vaf="", protein_change="",
                 relative_clonality="", status="not_evaluable", reason=why) for cd in codons]
    base = dict(patient_id=sample["patient_id"], sample_id=sample["sample_id"], sample_type=sample["sample_type"])
    biom = []
    for gene in BIOMARKER_GENES:
        det = {"codons": {str(cd.codon): {"status": "not_evaluable", "protein_change": "", "vaf": None, "depth": None,
                                          "alt_reads": None, "relative_clonality": None, "reason": why}
                          for cd in codons if cd.gene == gene}}
        biom.append(dict(base, biomarker=gene, status="not_evaluable", value="", evidence=f"{gene}: {why}",
                         details=json.dumps(det)))
    return pd.DataFrame(rows), pd.DataFrame(biom), []


# ---------------------------------------------------------------------------------------------
# VCF
# ---------------------------------------------------------------------------------------------


def _fai_contigs(fasta) -> list:
    fai = Path(str(fasta) + ".fai")
    if not fai.exists():
        raise InputError([f"{fasta}: no .fai index beside it (samtools faidx {fasta})"])
    out = []
    with open(fai) as fh:
        for line in fh:
            f = line.rstrip("\n").split("\t")
            if len(f) >= 2:
                out.append((f[0], int(f[1])))
    return out


def write_vcf(calls, fasta, sample_id: str, path) -> None:
    """Bgzipped, tabix-indexed VCF of the detections (one record per detected protein change).

    A multi-base change inside one codon is one MNV record (REF/ALT span the changed bases, unchanged
    bases between them included). Header contigs come from the FASTA .fai. FORMAT AD/DP/AF; INFO gene,
    codon, protein change, c. change, p-values, background rate, relative clonality.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    contigs = _fai_contigs(fasta)
    hdr = pysam.VariantHeader()
    for name, ln in contigs:
        hdr.contigs.add(name, length=ln)
    hdr.add_meta("source", "erbb-screen hotspots")
    hdr.add_meta("reference", f"file://{Path(fasta).resolve()}")
    for line in (
        '##INFO=<ID=GENE,Number=1,Type=String,Description="Gene of the hotspot codon">',
        '##INFO=<ID=CODON,Number=1,Type=Integer,Description="Codon number">',
        '##INFO=<ID=PROTEIN,Number=1,Type=String,Description="Protein change, e.g. p.G12D">',
        '##INFO=<ID=HGVSC,Number=1,Type=String,Description="Coding change, e.g. c.35G>A or c.34_35delinsTT">',
        '##INFO=<ID=REF_CODON,Number=1,Type=String,Description="Reference codon (coding strand)">',
        '##INFO=<ID=ALT_CODON,Number=1,Type=String,Description="Alt codon (coding strand) of this record">',
        '##INFO=<ID=GROUP_ALT,Number=1,Type=Integer,Description="Alt fragments summed over every alt codon encoding '
        'this protein change (the tested count)">',
        '##INFO=<ID=PVAL,Number=1,Type=Float,Description="One-sided background-error p-value (gamma-Poisson)">',
        '##INFO=<ID=PADJ,Number=1,Type=Float,Description="Bonferroni-adjusted p-value">',
        '##INFO=<ID=BGRATE,Number=1,Type=Float,Description="Background error rate per fragment for this change">',
        '##INFO=<ID=RC,Number=1,Type=Float,Description="Relative clonality (%): VAF / max somatic VAF x 100 (TRIUMPH)">',
        '##INFO=<ID=GERMLINE_LIKE,Number=0,Type=Flag,Description="Seen at germline-like VAF in a normal">',
        '##FILTER=<ID=germline_like,Description="Seen at germline-like VAF in a normal sample">',
        '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Fragments supporting REF and ALT codon (fragment = one '
        'observation; overlapping mates once)">',
        '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Fragments covering the whole codon">',
        '##FORMAT=<ID=AF,Number=A,Type=Float,Description="Fraction of fragments with the ALT codon">',
    ):
        hdr.add_line(line)
    hdr.add_sample(sample_id)
    fai_names = [c[0] for c in contigs]
    order = {c: i for i, c in enumerate(fai_names)}
    recs = []
    with pysam.FastaFile(str(fasta)) as fa:
        for c in calls:
            cd, t = c["codon"], c["test"]
            contig = resolve_contig(cd.chrom, fai_names)
            if contig is None:
                continue
            for alt_codon in t.alt_codons:
                changed = [cd.positions[i] for i in range(3) if alt_codon[i] != cd.ref_codon[i]]
                lo, hi = min(changed), max(changed)
                ref = fa.fetch(contig, lo - 1, hi).upper()
                alt = list(ref)
                for i in range(3):
                    if alt_codon[i] != cd.ref_codon[i]:
                        alt[cd.positions[i] - lo] = cd.genomic_base(alt_codon[i])
                n_alt = c["obs"].alt([alt_codon])
                n_ref = c["obs"].alt([cd.ref_codon])
                recs.append((order[contig], lo, contig, ref, "".join(alt), cd, t, alt_codon, n_ref, n_alt, c))
    recs.sort(key=lambda r: (r[0], r[1], r[4]))
    tmp = path.with_name(path.name.replace(".gz", "") + ".tmp.vcf.gz")
    with pysam.VariantFile(str(tmp), "wz", header=hdr) as out:
        for _, pos, contig, ref, alt, cd, t, alt_codon, n_ref, n_alt, c in recs:
            rec = out.new_record(contig=contig, start=pos - 1, alleles=(ref, alt))
            rec.info["GENE"] = cd.gene
            rec.info["CODON"] = cd.codon
            rec.info["PROTEIN"] = cd.protein_change(t.aa)
            rec.info["HGVSC"] = cd.hgvs_c(alt_codon)
            rec.info["REF_CODON"] = cd.ref_codon
            rec.info["ALT_CODON"] = alt_codon
            rec.info["GROUP_ALT"] = t.alt
            rec.info["PVAL"] = t.pvalue
            rec.info["PADJ"] = t.padj
            rec.info["BGRATE"] = t.rate
            if c["relative_clonality"] is not None:
                rec.info["RC"] = c["relative_clonality"]
            if c["germline"]:
                rec.info["GERMLINE_LIKE"] = True
                rec.filter.add("germline_like")
            else:
                rec.filter.add("PASS")
            s = rec.samples[sample_id]
            s["AD"] = (n_ref, n_alt)
            s["DP"] = c["depth"]
            s["AF"] = (n_alt / c["depth"],) if c["depth"] else (None,)
            out.write(rec)
    pysam.tabix_index(str(tmp), preset="vcf", force=True)
    tmp.replace(path)
    Path(str(tmp) + ".tbi").replace(Path(str(path) + ".tbi"))


# ---------------------------------------------------------------------------------------------
# VCF cross-check: which records of an existing VCF fall in hotspot codons
# ---------------------------------------------------------------------------------------------


def vcf_hotspot_hits(vcf_path, hotspots, fasta=None) -> pd.DataFrame:
    """Records of a (somatic) VCF that change a base of a hotspot codon.

    Contigs are matched explicitly with or without `chr`. The protein change is derived from the
    reference codon: read from ``fasta`` when given; otherwise every codon that encodes ``ref_aa`` and
    agrees with the VCF REF base(s) is tried, and the change is reported only if all of them give the
    same amino acid (else left empty, ``ambiguous``).
    """
    df = hotspots if isinstance(hotspots, pd.DataFrame) else read_hotspots(hotspots)
    fa = pysam.FastaFile(str(fasta)) if fasta else None
    rows = []
    with pysam.VariantFile(str(vcf_path)) as vcf:
        names = list(vcf.header.contigs)
        for h in df.itertuples(index=False):
            contig = resolve_contig(str(h.chrom), names)
            if contig is None:
                continue
            pos = (int(h.pos1), int(h.pos2), int(h.pos3))
            for rec in vcf.fetch(contig, min(pos) - 1, max(pos)):
                for alt in rec.alts or ():
                    if len(alt) != len(rec.ref) or alt.startswith("<"):
                        continue
                    changes = {}
                    for i, (rb, ab) in enumerate(zip(rec.ref, alt)):
                        g = rec.pos + i
                        if g in pos and rb != ab:
                            changes[pos.index(g)] = (rb.upper(), ab.upper())
                    if not changes:
                        continue
                    coding = {i: (rb, ab) if h.strand == "+" else (complement(rb), complement(ab))
                              for i, (rb, ab) in changes.items()}
                    if fa is not None:
                        fc = resolve_contig(str(h.chrom), fa.references)
                        refs = ["".join(fa.fetch(fc, x - 1, x).upper() for x in pos)]
                        if h.strand == "-":
                            refs = [complement(refs[0])]
                    else:
                        refs = [c for c, aa in GENETIC_CODE.items() if aa == h.ref_aa
                                and all(c[i] == rb for i, (rb, _) in coding.items())]
                    aas = set()
                    for rc in refs:
                        alt_c = list(rc)
                        for i, (_, ab) in coding.items():
                            alt_c[i] = ab
                        aas.add(GENETIC_CODE.get("".join(alt_c), "X"))
                    aa = aas.pop() if len(aas) == 1 else ""
                    c_pos = sorted(3 * (int(h.codon) - 1) + i + 1 for i in coding)
                    rows.append(dict(gene=h.gene, codon=int(h.codon), chrom=rec.chrom, pos=rec.pos, ref=rec.ref, alt=alt,
                                     c_positions=",".join(map(str, c_pos)),
                                     protein_change=f"p.{h.ref_aa}{h.codon}{aa}" if aa else "",
                                     ambiguous=not bool(aa)))
    if fa is not None:
        fa.close()
    return pd.DataFrame(rows, columns=["gene", "codon", "chrom", "pos", "ref", "alt", "c_positions",
                                       "protein_change", "ambiguous"])


# ---------------------------------------------------------------------------------------------
# file-level entry points (used by workflow/scripts/hotspots_*.py and the CLI)
# ---------------------------------------------------------------------------------------------


def run_count(bam, hotspots, fasta, out, qc=None, params=None) -> pd.DataFrame:
    """Count one sample (any type) -> counts TSV. With a failed ``qc`` row the BAM is not opened."""
    if qc is not None:
        from erbbscreen.tables import read_qc_row

        row = read_qc_row(qc)
        if row.get("status") != "pass":
            df = qc_fail_counts(row.get("reasons", "") or "status fail")
            write_table(df, out)
            log.info("QC failed (%s): alignment not opened", row.get("reasons"))
            return df
    codons = load_codons(hotspots, fasta)
    t0 = time.perf_counter()
    df = count_codons(bam, codons, params, reference=fasta)
    write_table(df, out)
    obs = observations(df)
    log.info("%s: %d codons counted in %.2f s (indexed fetch of the codon regions only); fragment depth per codon: %s",
             bam, len(codons), time.perf_counter() - t0,
             ", ".join(f"{g} {c}: {o.depth}" for (g, c), o in sorted(obs.items())))
    return df


def run_background(normal_counts: dict, hotspots, fasta, out, params=None) -> pd.DataFrame:
    """{sample_id: counts path} of the cohort's normals -> background TSV (default rates when empty)."""
    codons = load_codons(hotspots, fasta)
    tabs = {s: read_counts(pth) for s, pth in normal_counts.items()}
    df = build_background(tabs, codons, params)
    write_table(df, out)
    log.info("background from %d normal(s), %d usable", len(tabs), sum(counts_failed(t) is None for t in tabs.values()))
    return df


def run_call(counts, hotspots, fasta, sample: dict, out_table, out_biomarkers, out_vcf, background=None,
             matched_normals: dict | None = None, params=None):
    """Counts of one tumour/plasma sample (+ background, matched-normal counts) -> table, biomarkers, VCF."""
    codons = load_codons(hotspots, fasta)
    cnt = read_counts(counts) if not isinstance(counts, pd.DataFrame) else counts
    bg = read_background(background) if background else None
    normals = {s: read_counts(pth) for s, pth in (matched_normals or {}).items()}
    table, biom, calls = call_sample(cnt, codons, sample, bg, normals, params)
    write_table(table, out_table, "hotspots")
    write_table(biom, out_biomarkers, "biomarkers")
    write_vcf(calls, fasta, sample["sample_id"], out_vcf)
    log.info("%s (%s): background %s, matched normals %s; codon statuses %s; biomarkers %s",
             sample["sample_id"], sample["sample_type"], "given" if background else "default",
             sorted(normals) or "none", {k: int(v) for k, v in table["status"].value_counts().items()},
             dict(zip(biom["biomarker"], biom["status"])))
    return table, biom, calls


def run_count_and_call(bam, hotspots, fasta, sample: dict, out_counts, out_table, out_biomarkers, out_vcf, qc=None,
                       background=None, matched_normals: dict | None = None, params=None):
    """One tumour/plasma sample's hotspot job: :func:`run_count` then :func:`run_call` on the counts file it
    wrote (one process, so the interpreter start-up and imports are paid once)."""
    run_count(bam, hotspots, fasta, out_counts, qc=qc, params=params)
    return run_call(out_counts, hotspots, fasta, sample, out_table, out_biomarkers, out_vcf, background=background,
                    matched_normals=matched_normals, params=params)


def _load_config_section(path) -> dict:
    import yaml

    with open(path) as fh:
        cfg = yaml.safe_load(fh) or {}
    return cfg.get("hotspots", {}) or {}


def _sample_name(bam) -> str:
    try:
        with pysam.AlignmentFile(str(bam)) as fh:
            rgs = fh.header.to_dict().get("RG", [])
            if rgs and rgs[0].get("SM"):
                return rgs[0]["SM"]
    except (OSError, ValueError):
        pass
    name = Path(bam).name
    for suf in (".bam", ".cram"):
        if name.endswith(suf):
            name = name[: -len(suf)]
    return name


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="erbb-screen hotspots",
        description="Genotype hotspot codons (KRAS/NRAS/BRAF/PIK3CA ...) in one BAM/CRAM: codon-level calls, "
                    "per-codon table, biomarker rows, bgzipped+indexed VCF.")
    ap.add_argument("--bam", required=True, help="coordinate-sorted, indexed BAM or CRAM")
    ap.add_argument("--hotspots", required=True, help="hotspot TSV (gene, codon, ref_aa, chrom, strand, pos1..pos3)")
    ap.add_argument("--fasta", required=True, help="reference FASTA with .fai")
    ap.add_argument("--sample-type", required=True, choices=SAMPLE_TYPES)
    ap.add_argument("--out-prefix", required=True, help="writes PREFIX.{counts,hotspots,biomarkers}.tsv, PREFIX.vcf.gz")
    ap.add_argument("--background", help="background TSV from normals (results/hotspots/background.tsv)")
    ap.add_argument("--normals", nargs="*", default=[], help="normal BAMs: build the background from them")
    ap.add_argument("--matched-normal", nargs="*", default=[], help="the patient's normal BAM(s) (germline check)")
    ap.add_argument("--purity", type=float, help="tumour purity / ctDNA fraction from the sample sheet (0-1]")
    ap.add_argument("--sample-id", help="default: SM of the first read group, else the file name")
    ap.add_argument("--patient-id", help="default: the sample id")
    ap.add_argument("--config", help="YAML config; its `hotspots:` section overrides the defaults")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if a.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if a.purity is not None and not 0 < a.purity <= 1:
        ap.error("--purity must be in (0, 1]")
    try:
        params = merge_params(_load_config_section(a.config) if a.config else None)
        codons = load_codons(a.hotspots, a.fasta)
        prefix = Path(a.out_prefix)
        prefix.parent.mkdir(parents=True, exist_ok=True)
        sid = a.sample_id or _sample_name(a.bam)
        sample = dict(sample_id=sid, patient_id=a.patient_id or sid, sample_type=a.sample_type, purity=a.purity)
        counts = count_codons(a.bam, codons, params, reference=a.fasta)
        write_table(counts, f"{prefix}.counts.tsv")
        bg = None
        if a.background:
            bg = read_background(a.background)
        elif a.normals:
            bg = build_background({_sample_name(b) + f"#{i}": count_codons(b, codons, params, reference=a.fasta)
                                   for i, b in enumerate(a.normals)}, codons, params)
            write_table(bg, f"{prefix}.background.tsv")
        matched = {_sample_name(b) + f"#{i}": count_codons(b, codons, params, reference=a.fasta)
                   for i, b in enumerate(a.matched_normal)}
        table, biom, calls = call_sample(counts, codons, sample, bg, matched, params)
        write_table(table, f"{prefix}.hotspots.tsv", "hotspots")
        write_table(biom, f"{prefix}.biomarkers.tsv", "biomarkers")
        write_vcf(calls, a.fasta, sid, f"{prefix}.vcf.gz")
    except InputError as exc:
        print(f"erbb-screen hotspots: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"erbb-screen hotspots: {exc}", file=sys.stderr)
        return 1
    for r in table.itertuples(index=False):
        if r.status == "detected":
            print(f"{sid}\t{r.gene}\t{r.protein_change}\tVAF {r.vaf}\t{r.alt_reads}/{r.depth}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
