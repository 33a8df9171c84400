"""Trial eligibility engine: biomarkers.tsv (+ qc.tsv) + trial rule set -> a verdict per patient x trial.

The engine reads only the published tables (docs/biomarkers.md), so it also runs on tables written by hand or by
other tools. For every patient and trial it

1. evaluates every criterion of the trial (config/trials.yaml, loaded by :mod:`erbbscreen.trials`) to **true**,
   **false** or **unknown**; an unknown says why: ``needs_non_dna_test`` (IHC, ISH, RNA, clinical: never measured
   here) or ``insufficient_evidence`` (QC failure, depth, no ctDNA, region not covered, sample type missing);
   a patient's tumour and plasma results are combined per criterion (``samples`` may satisfy it, ``crosscheck``
   may only refute it; discordance is reported);
2. combines the criteria with Kleene's three-valued logic (false in all_of wins, true in any_of wins, not swaps
   true and false and keeps unknown);
3. maps the tree to one of the contract statuses (shared/interfaces.md) by evaluating it under explicit scenarios
   for the unknown criteria, so that a ``candidate`` never rests on an unknown DNA criterion
   (:func:`decide`; rules in docs/eligibility.md "How a status is decided").

Command line (registered in ``erbbscreen.cli`` as ``eligibility``)::

    erbb-screen eligibility --biomarkers biomarkers.tsv [--qc qc.tsv] [--trials trials.yaml] \
        [--config config.yaml] --out-dir DIR

writes ``DIR/eligibility.tsv``, ``DIR/funnel.tsv`` and ``DIR/patients/<patient>.json``.
"""
from __future__ import annotations

import argparse
import copy
import json
import logging
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import pandas as pd
import yaml

from erbbscreen import BIOMARKER_STATUSES, ELIGIBILITY_STATUSES, QC_STATUSES, __version__
from erbbscreen.errors import InputError
from erbbscreen.tables import COLUMNS, read_table, write_table, parse_float
from erbbscreen.trials import (DEFAULT_FLAG_WHEN, PROPOSITION, REPO_ROOT, Leaf, Trial, TrialSet,
                               iter_leaves, load_trials)

log = logging.getLogger("erbbscreen.eligibility")

CONFIG_SCHEMA = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"

NEEDS_NON_DNA = "needs_non_dna_test"
INSUFFICIENT = "insufficient_evidence"
EVAL_SAMPLE_TYPES = ("tumor", "plasma")
#: contract biomarkers plus optional co-alteration amplification rows the engine understands (docs/biomarkers.md)
KNOWN_BIOMARKERS = ("ERBB2_CN", "ERBB3_CN", "KRAS", "NRAS", "BRAF", "PIK3CA", "NRG1_FUSION", "TUMOR_FRACTION",
                    "EGFR_CN", "MET_CN")
HOTSPOT_GENES = ("KRAS", "NRAS", "BRAF", "PIK3CA")
CODON_STATUSES = ("detected", "not_detected", "not_evaluable")
PATIENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
PROTEIN_RE = re.compile(r"^(?:p\.)?([A-Z*])(\d+)(.*)$")
REASON_SEP = " | "

# =============================================================================================
# three-valued logic
# =============================================================================================


def k_not(a):
    """Kleene negation: True <-> False, unknown (None) stays unknown."""
    return None if a is None else (not a)


def k_and(values):
    """Kleene conjunction: any False -> False; else any unknown -> unknown; else True (empty -> True)."""
    values = list(values)
    if any(v is False for v in values):
        return False
    if any(v is None for v in values):
        return None
    return True


def k_or(values):
    """Kleene disjunction: any True -> True; else any unknown -> unknown; else False (empty -> False)."""
    values = list(values)
    if any(v is True for v in values):
        return True
    if any(v is None for v in values):
        return None
    return False


@dataclass
class NodeEval:
    """Value of one tree node with the leaves that decided it and, when unknown, why."""
    value: object
    deciders: list
    causes: set
    node: object
    children: list = field(default_factory=list)

    def to_json(self) -> dict:
        n = self.node
        out = {"value": _tv(self.value)}
        if self.value is None:
            out["unknown_causes"] = sorted(self.causes)
        if isinstance(n, Leaf):
            out.update({"criterion": n.id})
        else:
            out.update({"op": n.op, "id": n.id or None, "deciders": self.deciders,
                        "children": [c.to_json() for c in self.children]})
        return out


def evaluate_tree(node, leaf_value, polarity: bool = True) -> NodeEval:
    """Evaluate a criteria tree with Kleene logic.

    ``leaf_value(leaf, polarity)`` returns ``(value, cause)`` with value True/False/None and cause the reason of an
    unknown. ``polarity`` is False below an odd number of ``not`` (lets a caller fill unknowns favourably).
    ``deciders`` lists the leaves that fix the node's value (the false ones of a false all_of, ...).
    """
    if isinstance(node, Leaf):
        value, cause = leaf_value(node, polarity)
        return NodeEval(value, [node.id], {cause} if value is None and cause else set(), node)
    if node.op == "not":
        child = evaluate_tree(node.children[0], leaf_value, not polarity)
        return NodeEval(k_not(child.value), child.deciders, set(child.causes), node, [child])
    kids = [evaluate_tree(c, leaf_value, polarity) for c in node.children]
    values = [k.value for k in kids]
    value = k_and(values) if node.op == "all_of" else k_or(values)
    if value is None:
        picked = [k for k in kids if k.value is None]
    elif node.op == "all_of":
        picked = [k for k in kids if k.value is False] if value is False else kids
    else:
        picked = [k for k in kids if k.value is True] if value is True else kids
    deciders = [d for k in picked for d in k.deciders]
    causes = set().union(*[k.causes for k in picked]) if value is None and picked else set()
    return NodeEval(value, deciders, causes, node, kids)


def _tv(v) -> str:
    return {True: "true", False: "false", None: "unknown"}[v]


# =============================================================================================
# settings
# =============================================================================================


def _schema_defaults(schema: dict) -> dict:
    out = {}
    for key, sub in (schema.get("properties") or {}).items():
        if "default" not in sub:
            continue
        value = copy.deepcopy(sub["default"])
        if isinstance(value, dict) and sub.get("type") == "object":
            value = _deep_merge(_schema_defaults(sub), value)
        out[key] = value
    return out


def _deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def eligibility_schema() -> dict:
    from erbbscreen.settings import read_bundled_yaml

    return read_bundled_yaml(CONFIG_SCHEMA)["properties"]["eligibility"]


def load_settings(overrides: dict | None = None) -> dict:
    """The ``eligibility`` config block with the schema's defaults filled in, validated; derived values added."""
    schema = eligibility_schema()
    settings = _deep_merge(_schema_defaults(schema), overrides or {})
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(settings), key=lambda e: list(e.path))
    if errors:
        raise InputError([f"config eligibility.{'.'.join(str(p) for p in e.path) or '(block)'}: {e.message}"
                          for e in errors], header="Invalid eligibility settings")
    amp = settings["erbb2_amplification"]
    if settings["plasma_min_tumor_fraction_cn"] is None:
        settings["plasma_min_tumor_fraction_cn"] = round(
            (amp["plasma_pcn_min"] - 2.0) / (amp["tissue_cn_min"] - 2.0), 4)
        settings["plasma_min_tumor_fraction_cn_source"] = (
            f"derived ({amp['plasma_pcn_min']:g} - 2) / ({amp['tissue_cn_min']:g} - 2): project choice, UNVERIFIED")
    else:
        settings["plasma_min_tumor_fraction_cn_source"] = "config eligibility.plasma_min_tumor_fraction_cn (UNVERIFIED)"
    return settings


# =============================================================================================
# inputs: biomarkers.tsv + qc.tsv -> patients
# =============================================================================================


@dataclass
class Row:
    biomarker: str
    status: str
    value: str
    evidence: str
    details: dict
    line: int


@dataclass
class Sample:
    sample_id: str
    patient_id: str
    sample_type: str
    qc_status: str = "not_given"  # pass / fail / not_given (no qc.tsv or no row)
    qc_reasons: str = ""
    rows: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.sample_type} {self.sample_id}"

    def tumor_fraction(self):
        """(fraction or None, text): tumour DNA fraction of a plasma sample (TUMOR_FRACTION row, else CN details)."""
        row = self.rows.get("TUMOR_FRACTION")
        if row is not None:
            if row.status == "positive":
                f = _num(row.value)
                if f is not None:
                    how = row.details.get("method") or "method not given"
                    return f, f"ctDNA fraction {f:.3g} ({how})"
            if row.status == "negative":
                return 0.0, "no tumour DNA detected"
            if row.status == "not_evaluable":
                return None, f"ctDNA fraction not evaluable ({_short(row.evidence)})"
        for bm in ("ERBB2_CN", "ERBB3_CN"):
            r = self.rows.get(bm)
            if r is not None and _num(r.details.get("tumor_fraction")) is not None:
                f = _num(r.details["tumor_fraction"])
                return f, f"ctDNA fraction {f:.3g} ({r.details.get('purity_source', 'copy-number stage')})"
        return None, "ctDNA fraction unknown (no TUMOR_FRACTION row)"

    def max_somatic_vaf(self):
        """Highest somatic VAF known for the sample (TUMOR_FRACTION details.max_vaf, detected hotspot VAFs)."""
        vafs = []
        tf = self.rows.get("TUMOR_FRACTION")
        if tf is not None and _num(tf.details.get("max_vaf")) is not None:
            vafs.append(_num(tf.details["max_vaf"]))
        for gene in HOTSPOT_GENES:
            row = self.rows.get(gene)
            if row is None:
                continue
            for c in (row.details.get("codons") or {}).values():
                if (isinstance(c, dict) and c.get("status") == "detected" and not c.get("germline_like")
                        and _num(c.get("vaf")) is not None):
                    vafs.append(_num(c["vaf"]))
        return max(vafs) if vafs else None


@dataclass
class Patient:
    patient_id: str
    samples: list

    def of_types(self, types) -> list:
        return [s for s in self.samples if s.sample_type in types]


_num = parse_float  # erbbscreen.tables.parse_float


def _short(text, n: int = 160) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= n else text[: n - 3] + "..."


def _fmt(x, digits: int = 3) -> str:
    if x is None:
        return "NA"
    return f"{x:.{digits}g}"


def _check_codons(details: dict, where: str, problems: list) -> None:
    codons = details.get("codons")
    if codons is None:
        return
    if not isinstance(codons, dict):
        problems.append(f"{where}: details.codons must be an object keyed by codon number")
        return
    for key, c in codons.items():
        at = f"{where}: details.codons[{key}]"
        if not str(key).isdigit():
            problems.append(f"{at}: codon keys are codon numbers (e.g. \"12\")")
        if not isinstance(c, dict):
            problems.append(f"{at}: expected an object with status, protein_change, vaf, ...")
            continue
        if c.get("status") not in CODON_STATUSES:
            problems.append(f"{at}.status: {c.get('status')!r} is not allowed; allowed: {', '.join(CODON_STATUSES)}")
        for key2, top, unit in (("vaf", 1.0, "a fraction in [0, 1]"),
                                ("relative_clonality", 100.0, "a percentage in [0, 100] (S2 Table 1 footnote)")):
            v = c.get(key2)
            if v is None or v == "":
                continue
            f = _num(v)
            if f is None or not 0.0 <= f <= top:
                problems.append(f"{at}.{key2}: {v!r} must be {unit}")


def read_biomarkers(path) -> pd.DataFrame:
    """Read and check a biomarkers.tsv; every problem is reported at once (file, line, column)."""
    path = Path(path)
    try:
        df = read_table(path)
    except (OSError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"{path}: cannot read ({exc})", header="biomarkers table")
    problems = []
    required = COLUMNS["biomarkers"]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}; required: {', '.join(required)}"
                         " (docs/biomarkers.md)", header="Invalid biomarkers table")
    if "details" not in df.columns:
        df["details"] = ""
    parsed = []
    seen = {}
    sample_meta = {}
    for i, r in enumerate(df.to_dict("records")):
        line = i + 2
        where = f"{path}:{line}"
        for col in ("patient_id", "sample_id"):
            if not PATIENT_RE.match(r[col]):
                problems.append(f"{where}: {col} {r[col]!r} must match ^[A-Za-z0-9][A-Za-z0-9._-]{{0,63}}$")
        if r["sample_type"] not in ("tumor", "plasma", "normal"):
            problems.append(f"{where}: sample_type {r['sample_type']!r}; allowed: tumor, plasma, normal")
        if r["status"] not in BIOMARKER_STATUSES:
            problems.append(f"{where}: status {r['status']!r}; allowed: {', '.join(BIOMARKER_STATUSES)}")
        details = {}
        if r["details"].strip():
            try:
                details = json.loads(r["details"])
            except json.JSONDecodeError as exc:
                problems.append(f"{where}: details is not valid JSON ({exc.msg})")
            if not isinstance(details, dict):
                problems.append(f"{where}: details must be a JSON object")
                details = {}
        _check_codons(details, where, problems)
        key = (r["sample_id"], r["biomarker"])
        if key in seen:
            problems.append(f"{where}: duplicate row for sample {r['sample_id']} biomarker {r['biomarker']} "
                            f"(first at line {seen[key]})")
        seen[key] = line
        meta = (r["patient_id"], r["sample_type"])
        if sample_meta.setdefault(r["sample_id"], (meta, line))[0] != meta:
            first = sample_meta[r["sample_id"]]
            problems.append(f"{where}: sample {r['sample_id']} has patient/sample_type {meta} but "
                            f"{first[0]} at line {first[1]}")
        if r["biomarker"] in ("TUMOR_FRACTION",) and r["status"] == "positive":
            f = _num(r["value"])
            if f is None or not 0 < f <= 1:
                problems.append(f"{where}: TUMOR_FRACTION positive needs a value in (0, 1], got {r['value']!r}")
        parsed.append(details)
    if problems:
        raise InputError(problems, header=f"Invalid biomarkers table {path}")
    df = df.copy()
    df["_details"] = parsed
    df["_line"] = range(2, len(df) + 2)
    unknown = sorted(set(df["biomarker"]) - set(KNOWN_BIOMARKERS))
    if unknown:
        log.warning("%s: biomarker(s) %s are not used by the engine (known: %s)", path, ", ".join(unknown),
                    ", ".join(KNOWN_BIOMARKERS))
    return df


def read_qc(path) -> pd.DataFrame:
    path = Path(path)
    df = read_table(path)
    required = COLUMNS["qc"]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}; required: {', '.join(required)}",
                         header="Invalid QC table")
    problems = [f"{path}:{i + 2}: status {s!r}; allowed: {', '.join(QC_STATUSES)}"
                for i, s in enumerate(df["status"]) if s not in QC_STATUSES]
    if problems:
        raise InputError(problems, header=f"Invalid QC table {path}")
    return df


def build_patients(biomarkers: pd.DataFrame, qc: pd.DataFrame | None = None) -> dict:
    """patient_id -> :class:`Patient` from the checked tables (samples from either table)."""
    samples = {}
    if qc is not None:
        for r in qc.to_dict("records"):
            samples[r["sample_id"]] = Sample(r["sample_id"], r["patient_id"], r["sample_type"], r["status"],
                                             r.get("reasons", ""))
    problems = []
    for r in biomarkers.to_dict("records"):
        s = samples.get(r["sample_id"])
        if s is None:
            s = samples[r["sample_id"]] = Sample(r["sample_id"], r["patient_id"], r["sample_type"])
        elif (s.patient_id, s.sample_type) != (r["patient_id"], r["sample_type"]):
            problems.append(f"biomarkers line {r['_line']}: sample {r['sample_id']} is {r['patient_id']}/"
                            f"{r['sample_type']} but {s.patient_id}/{s.sample_type} in the QC table")
            continue
        s.rows[r["biomarker"]] = Row(r["biomarker"], r["status"], r["value"], r["evidence"], r["_details"],
                                     int(r["_line"]))
    if problems:
        raise InputError(problems, header="biomarkers and QC tables disagree")
    patients = {}
    for s in samples.values():
        patients.setdefault(s.patient_id, Patient(s.patient_id, [])).samples.append(s)
    for p in patients.values():
        p.samples.sort(key=lambda s: ((EVAL_SAMPLE_TYPES + ("normal",)).index(s.sample_type), s.sample_id))
    return dict(sorted(patients.items()))


# =============================================================================================
# criteria: one finding per sample, combined per criterion
# =============================================================================================


@dataclass
class Finding:
    """One sample's answer to one criterion."""
    sample_id: str
    sample_type: str
    value: object  # True / False / None
    text: str
    use: str = "accepted"  # accepted (may satisfy) / crosscheck (may only refute)
    remedy: str = ""
    notes: list = field(default_factory=list)
    review: list = field(default_factory=list)
    data: dict = field(default_factory=dict)
    caveats: list = field(default_factory=list)  # e.g. a wild-type claim resting on the clonal-mutation power

    def to_json(self) -> dict:
        return {"sample_id": self.sample_id, "sample_type": self.sample_type, "use": self.use,
                "value": _tv(self.value), "text": self.text, "remedy": self.remedy or None, "notes": self.notes,
                "review": self.review, "data": self.data, "caveats": self.caveats}


@dataclass
class LeafResult:
    leaf: Leaf
    value: object
    cause: str | None
    summary: str
    rule: str
    findings: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    remedies: list = field(default_factory=list)
    review: list = field(default_factory=list)
    threshold: str = ""  # what the criterion requires, without the samples (structured field of the JSON)
    caveats: list = field(default_factory=list)

    @property
    def state(self) -> str:
        if self.value is True:
            return "met"
        if self.value is False:
            return "not met"
        return "pending (needs non-DNA test)" if self.cause == NEEDS_NON_DNA else "unknown (insufficient evidence)"

    @property
    def flag_raised(self) -> bool:
        want = self.leaf.flag_when if self.leaf.flag_when is not None else DEFAULT_FLAG_WHEN.get(self.leaf.kind, False)
        return self.value is want

    def reason(self) -> str:
        leaf = self.leaf
        src = "; ".join(leaf.sources)
        label = leaf.verified_label
        tag = f", {label}" if label else ""
        role = " (informational" + (", FLAG" if self.flag_raised else "") + ")" if leaf.role == "informational" else ""
        return f"{leaf.name} [{leaf.id}] {self.state}{role}: {self.summary}; rule: {self.rule} ({src}{tag})"

    def to_json(self) -> dict:
        leaf = self.leaf
        return {"criterion": leaf.id, "label": leaf.name, "kind": leaf.kind, "proposition": PROPOSITION[leaf.kind],
                "role": leaf.role, "verified": leaf.verified, "evaluable_by": leaf.evaluable_by,
                "samples": list(leaf.samples), "crosscheck": list(leaf.crosscheck), "combine": leaf.combine or None,
                "sources": leaf.sources, "params": leaf.params, "path": leaf.path,
                "value": _tv(self.value), "unknown_cause": self.cause, "state": self.state, "rule": self.rule,
                "threshold": self.threshold,
                "summary": self.summary, "reason": self.reason(), "notes": self.notes, "remedies": self.remedies,
                "review": self.review, "caveats": self.caveats, "findings": [f.to_json() for f in self.findings]}


class Context:
    """Settings and the trial set's codon sets, shared by the evaluators."""

    def __init__(self, trial_set: TrialSet, settings: dict):
        self.trial_set = trial_set
        self.s = settings

    def rc_max(self, leaf_params) -> float:
        v = leaf_params.get("rc_max_pct")
        return float(self.s["relative_clonality_max_pct"] if v is None else v)


def _qc_block(sample: Sample, use: str):
    """A Finding when the sample cannot be used at all (QC fail), else None."""
    if sample.qc_status == "fail":
        return Finding(sample.sample_id, sample.sample_type, None,
                       f"{sample.label} failed QC ({_short(sample.qc_reasons) or 'no reason given'})", use,
                       remedy=f"repeat sequencing of {sample.label} (QC fail: {_short(sample.qc_reasons, 80)})")
    return None


def _plasma_negative_ok(sample: Sample, min_f: float, what: str):
    """(ok, text): may a plasma 'not found' count as a negative? Needs tumour DNA at >= min_f."""
    f, text = sample.tumor_fraction()
    if f is None:
        return False, f"{text}: no confident {what} negative from plasma"
    if f < min_f:
        why = "no tumour DNA detected" if f == 0 else f"ctDNA fraction {f:.3g} < {min_f:g}"
        return False, (f"{why}: no confident {what} negative from plasma (low shedding causes false-negative "
                       "plasma results, S2 §3)")
    return True, text


# ---------------------------------------------------------------------------------------------
# ERBB2 / ERBB3 copy number
# ---------------------------------------------------------------------------------------------

METRIC_LABEL = {"tissue_cn": "purity-corrected CN", "plasma_pcn": "pCN", "plasma_apcn": "ApCN",
                "call": "amplification call"}
DEFAULT_KEY = {"tissue_cn": "tissue_cn_min", "plasma_pcn": "plasma_pcn_min", "plasma_apcn": "plasma_apcn_min"}


def _threshold(leaf: Leaf, ctx: Context):
    """(op, value, provenance) for a numeric copy-number criterion."""
    p = leaf.params
    op = p.get("op", ">=")
    if p.get("value") is not None:
        return op, float(p["value"]), "published cut-off"
    key = DEFAULT_KEY[p["metric"]]
    v = ctx.s["erbb2_amplification"].get(key)
    if v is None:
        raise InputError(f"trial criterion {leaf.id}: metric {p['metric']} has value null but config "
                         f"eligibility.erbb2_amplification.{key} is null; give the criterion a value",
                         header="Eligibility configuration")
    return op, float(v), f"configured default eligibility.erbb2_amplification.{key}"


def _cmp(x: float, op: str, thr: float) -> bool:
    return x >= thr if op == ">=" else x > thr


def _cn_rule(leaf: Leaf, ctx: Context, gene: str) -> str:
    metric = leaf.params["metric"]
    if metric == "call":
        return f"{gene} amplification call of the copy-number stage"
    op, thr, prov = _threshold(leaf, ctx)
    return f"{gene} {METRIC_LABEL[metric]} {op} {thr:g} ({prov})"


def _cn_finding(leaf: Leaf, sample: Sample, ctx: Context, gene: str, use: str) -> Finding:
    bm = f"{gene}_CN"
    blocked = _qc_block(sample, use)
    if blocked:
        return blocked
    row = sample.rows.get(bm)
    sid, st = sample.sample_id, sample.sample_type
    if row is None:
        return Finding(sid, st, None, f"{bm} not reported for {sample.label}", use,
                       remedy=f"copy-number result for {gene} in {sample.label}")
    d = row.details
    call = d.get("call") or {"positive": "amplification"}.get(row.status, "")
    data = {"status": row.status, "call": call, "value": row.value}
    if row.status == "not_evaluable" or call == "not_evaluable":
        remedy = f"repeat copy-number analysis of {sample.label}, or tissue HER2 IHC/ISH"
        if st == "plasma":
            f, _ = sample.tumor_fraction()
            if f is None or f < ctx.s["plasma_min_tumor_fraction_cn"]:
                remedy = (f"plasma {sample.sample_id} has too little tumour DNA for {gene} copy number "
                          f"({'unknown' if f is None else format(f, '.3g')}): tissue copy number or HER2 IHC/ISH, "
                          "or repeat plasma later")
        return Finding(sid, st, None, f"{bm} not evaluable in {sample.label}: {_short(row.evidence)}", use,
                       remedy=remedy, data=data)
    metric = leaf.params["metric"]
    plasma = st == "plasma"

    def negative_guard(text_if_ok: str) -> Finding:
        if plasma:
            ok, why = _plasma_negative_ok(sample, ctx.s["plasma_min_tumor_fraction_cn"], f"{gene} copy-number")
            if not ok:
                return Finding(sid, st, None, f"{bm} {text_if_ok} in {sample.label}, but {why}", use,
                               remedy="tissue copy number or HER2 IHC/ISH (plasma cannot exclude the amplification)",
                               data=data)
        return Finding(sid, st, False, f"{bm} {text_if_ok} in {sample.label}", use, data=data)

    if metric == "call":
        shown = row.value or "NA"
        what = "pCN" if plasma else "CN"
        basis = f" (stage thresholds: {_short(d['thresholds'], 120)})" if d.get("thresholds") else ""
        if row.status == "positive":
            extra = f", ApCN {d['apcn']}" if plasma and d.get("apcn") is not None else ""
            return Finding(sid, st, True, f"{bm} {what} {shown}{extra} in {sample.label}: amplification "
                           f"call{basis}", use, data=data)
        return negative_guard(f"{what} {shown}: {call or 'not amplified'}{basis}")

    op, thr, _ = _threshold(leaf, ctx)
    if metric == "tissue_cn":
        x = _num(d.get("copy_number"))
        if x is None:
            x = _num(row.value)
    elif metric == "plasma_pcn":
        x = _num(d.get("pcn"))
        if x is None:
            x = _num(row.value)
    else:  # plasma_apcn
        if d.get("apcn_status") not in (None, "ok") or _num(d.get("apcn")) is None:
            return Finding(sid, st, None, f"{bm} ApCN not evaluable in {sample.label} "
                           f"(apcn_status {d.get('apcn_status', 'missing')}; ApCN needs the ctDNA fraction)", use,
                           remedy="ctDNA fraction estimate for ApCN", data=data)
        x = _num(d.get("apcn"))
    data.update({"metric": metric, "measured": x, "op": op, "threshold": thr})
    if x is None:
        return Finding(sid, st, None, f"{bm} has no {METRIC_LABEL[metric]} value in {sample.label}", use, data=data)
    passed = _cmp(x, op, thr)
    cmp_text = f"{bm} {METRIC_LABEL[metric]} {_fmt(x, 4)} {op if passed else ('<' if op == '>=' else '<=')} {thr:g}"
    if metric == "tissue_cn":
        source = str(d.get("purity_source", ""))
        known = bool(source) and not (source.startswith("default") or source == "unknown")
        data["purity"], data["purity_source"] = d.get("purity"), source or None
        if source and not known:
            log2 = _num(d.get("log2"))
            lower = None if log2 is None else 2.0 * 2.0 ** log2  # CN at purity 1: the smallest it can be
            data["cn_at_purity_1"] = lower
            if lower is not None and _cmp(lower, op, thr):
                return Finding(sid, st, True, f"{cmp_text} in {sample.label}; purity {source}, but CN at purity 1 "
                               f"is {_fmt(lower, 4)} {op} {thr:g} whatever the purity", use, data=data)
            if call in ("neutral", "loss"):
                return Finding(sid, st, False, f"{bm} {call} (log2 {_fmt(log2)}) in {sample.label}: not amplified "
                               "at any purity", use, data=data)
            return Finding(sid, st, None, f"{cmp_text} in {sample.label} at an assumed purity ({source}); the "
                           f"comparison depends on the unknown purity", use,
                           remedy=f"pathologist purity for {sample.label} (or HER2 IHC/ISH)", data=data)
        lo, hi = _num(d.get("ci_low")), _num(d.get("ci_high"))
        data["ci_low"], data["ci_high"] = lo, hi
        if lo is not None and hi is not None and _cmp(hi, op, thr) and not _cmp(lo, op, thr):
            # the confidence interval reaches both sides of the cut-off: neither met nor not met
            return Finding(sid, st, None, f"{bm} {METRIC_LABEL[metric]} {_fmt(x, 4)} (CI {_fmt(lo, 4)}-"
                           f"{_fmt(hi, 4)}) straddles {op} {thr:g} in {sample.label} (call {call or 'NA'})", use,
                           remedy=f"HER2 ISH/IHC: {gene} copy number of {sample.label} is at the cut-off {thr:g}",
                           data=data)
    if passed:
        return Finding(sid, st, True, f"{cmp_text} in {sample.label} (call {call or 'NA'})", use, data=data)
    return negative_guard(f"{METRIC_LABEL[metric]} {_fmt(x, 4)} {'<' if op == '>=' else '<='} {thr:g} "
                          f"(call {call or 'NA'})")


# ---------------------------------------------------------------------------------------------
# hotspot genes: RAS / BRAF wild type, co-alteration mutations
# ---------------------------------------------------------------------------------------------


def _parse_changes(value: str) -> list:
    """'p.G12D,p.Q61H' -> [(12, 'p.G12D'), (61, 'p.Q61H')]."""
    out = []
    for part in re.split(r"[,;\s]+", value or ""):
        m = PROTEIN_RE.match(part.strip())
        if m:
            out.append((int(m.group(2)), part.strip() if part.startswith("p.") else "p." + part.strip()))
    return out


def _codon_states(sample: Sample, gene: str, codons, ctx: Context):
    """(states, problem) for the codons of one gene in one sample.

    states: list of dicts {codon, status (detected / not_detected / not_evaluable / missing), protein_change, vaf,
    relative_clonality, reason}; problem: text when the gene as a whole is unusable (row missing).
    """
    row = sample.rows.get(gene)
    if row is None:
        return None, f"{gene} not reported for {sample.label}"
    detail = row.details.get("codons") or {}
    detail = {int(k): v for k, v in detail.items() if str(k).isdigit() and isinstance(v, dict)}
    wanted = sorted(detail) if codons == "all" else list(codons)
    states = []
    if not detail:  # gene-level row only
        changes = _parse_changes(row.value) if row.status == "positive" else []
        if codons == "all":
            wanted = sorted({c for c, _ in changes}) or ["all"]
        for c in wanted:
            hit = [pc for cc, pc in changes if c == "all" or cc == c]
            if hit:
                states.append({"codon": c, "status": "detected", "protein_change": hit[0], "vaf": None,
                               "relative_clonality": None, "reason": "gene-level row (no codon details)"})
            elif row.status == "not_evaluable":
                states.append({"codon": c, "status": "not_evaluable", "reason": _short(row.evidence)})
            elif ctx.s["require_codon_detail"]:
                states.append({"codon": c, "status": "missing",
                               "reason": f"{gene} {row.status} without per-codon details (which codons were tested "
                                         "is unknown; config eligibility.require_codon_detail)"})
            else:
                states.append({"codon": c, "status": "not_detected", "reason": "gene-level negative trusted"})
        return states, None
    for c in wanted:
        d = detail.get(c)
        if d is None:
            states.append({"codon": c, "status": "missing", "reason": f"{gene} codon {c} not in the sample's results"})
            continue
        states.append({"codon": c, "status": d.get("status"), "protein_change": d.get("protein_change") or "",
                       "vaf": _num(d.get("vaf")), "depth": d.get("depth"), "power_at_lod": d.get("power_at_lod"),
                       "depth_tier": d.get("depth_tier"),
                       "relative_clonality": _num(d.get("relative_clonality")), "reason": d.get("reason") or "",
                       "germline_like": bool(d.get("germline_like"))})
    return states, None


def _relative_clonality(state: dict, sample: Sample):
    """(relative clonality in %, how): mutation VAF / highest somatic VAF x 100 (S2 Table 1 footnote)."""
    rc = state.get("relative_clonality")
    if rc is not None:
        return rc, "reported"
    vaf = state.get("vaf")
    top = sample.max_somatic_vaf()
    if vaf is None or not top:
        return None, "relative clonality unknown (no VAF / no maximum somatic VAF)"
    return min(100.0, 100.0 * vaf / top), f"computed by the engine: VAF {vaf:.3g} / max somatic VAF {top:.3g}"


def _clonal_caveat(sample: Sample, gene: str, state: dict, ctx: Context) -> str | None:
    """Purity-aware absence (docs/purity.md): for a codon the hotspots stage left not_evaluable, the caveat text
    when its absence can rest on the power to see a clonal heterozygous mutation at the sample's purity (purity
    stage: TUMOR_FRACTION details.clonal_power, computed at the interval's lower end) - only for a purity that is
    neither LOW_PURITY nor UNRESOLVED - else None. Off with eligibility.wild_type_by_clonal_power."""
    if not ctx.s["wild_type_by_clonal_power"]:
        return None
    tf = sample.rows.get("TUMOR_FRACTION")
    if tf is None or tf.status != "positive":
        return None
    d = tf.details
    states = set(d.get("states") or [])
    if states & {"LOW_PURITY", "UNRESOLVED", "NO_TUMOR_EVIDENCE"}:
        return None
    cp = ((d.get("clonal_power") or {}).get(gene) or {}).get(str(state["codon"]))
    if not cp or _num(cp.get("power_clonal")) is None or cp["power_clonal"] < ctx.s["clonal_min_power"]:
        return None
    lod = _num(cp.get("power_at_lod"))
    what = "purity" if sample.sample_type == "tumor" else "ctDNA fraction"
    return (f"{gene} {state['codon']} in {sample.label}: {cp['depth']}x, power "
            f"{'NA' if lod is None else format(lod, '.2f')} for a subclone at the LoD, "
            f"{cp['power_clonal']:.2f} for a clonal mutation (VAF {cp['clonal_vaf']:.3g}) at {what} "
            f"{_num(tf.value):.2f} [{_num(d.get('purity_low')):.2f}-{_num(d.get('purity_high')):.2f}] "
            f"({d.get('method')})")


def _wt_definition(leaf: Leaf, sample_type: str) -> str:
    wtd = leaf.params.get("wild_type_definition", "absent")
    if isinstance(wtd, dict):
        return wtd.get(sample_type, "absent")
    return wtd


def _codon_text(genes_codons: dict) -> str:
    return "; ".join(f"{g} {'all hotspot codons' if c == 'all' else ','.join(str(x) for x in c)}"
                     for g, c in genes_codons.items())


def _wild_type_finding(leaf: Leaf, sample: Sample, ctx: Context, genes_codons: dict, use: str,
                       match=None) -> Finding:
    """Wild type at ``genes_codons`` in one sample (True), a breaking mutation (False) or unknown (None)."""
    blocked = _qc_block(sample, use)
    if blocked:
        return blocked
    sid, st = sample.sample_id, sample.sample_type
    definition = _wt_definition(leaf, st)
    rc_max = ctx.rc_max(leaf.params)
    breaking, unknown, notes, review, clean, caveats = [], [], [], [], [], []
    grouped = {}  # status -> codons by gene + reasons: one line per status, not per codon
    data = {"definition": definition, "rc_max_pct": rc_max if definition == "relative_clonality_le" else None,
            "codons": []}
    for gene, codons in genes_codons.items():
        states, problem = _codon_states(sample, gene, codons, ctx)
        if problem:
            unknown.append(problem)
            continue
        for s in states:
            data["codons"].append({"gene": gene, **s})
            label = f"{gene} {s['codon']}"
            status = s["status"]
            if status == "detected":
                pc = s.get("protein_change") or f"codon {s['codon']} change"
                if match is not None and not match(pc):
                    notes.append(f"{gene} {pc} in {sample.label} is not one of the listed variants")
                    review.append(f"clinical review: {gene} {pc} in {sample.label} (criterion {leaf.id} lists "
                                  f"{', '.join(leaf.params.get('variants', []))} only)")
                    continue
                vaf = f" VAF {s['vaf']:.3g}" if s.get("vaf") is not None else ""
                if s.get("germline_like"):
                    unknown.append(f"{gene} {pc}{vaf} is germline-like (seen in a normal sample): neither a "
                                   "confident somatic mutation nor wild type")
                    review.append(f"clinical review: germline-like {gene} {pc} in {sample.label}")
                    continue
                if definition == "relative_clonality_le":
                    rc, how = _relative_clonality(s, sample)
                    if rc is None:
                        unknown.append(f"{gene} {pc}{vaf}: {how}")
                    elif rc > rc_max:
                        breaking.append(f"{gene} {pc}{vaf} relative clonality {rc:.0f}% > {rc_max:g}% "
                                        f"({how})")
                    else:
                        notes.append(f"{gene} {pc}{vaf} in {sample.label}: relative clonality {rc:.0f}% <= "
                                     f"{rc_max:g}% (subclonal; does not break wild type, S2 Table 1; {how})")
                else:
                    breaking.append(f"{gene} {pc}{vaf}")
            elif status == "not_detected":
                clean.append(label)
            elif status == "not_evaluable" and _clonal_caveat(sample, gene, s, ctx):
                clean.append(label)
                caveats.append(_clonal_caveat(sample, gene, s, ctx))
            else:
                entry = grouped.setdefault(status.replace("_", " "), {"genes": {}, "reasons": []})
                entry["genes"].setdefault(gene, []).append(str(s["codon"]))
                if s.get("reason"):
                    entry["reasons"].append(_short(s["reason"], 90))
    for status, entry in grouped.items():
        codon_list = "; ".join(f"{g} {','.join(c)}" for g, c in entry["genes"].items())
        reasons = entry["reasons"]
        why = "" if not reasons else (f" ({reasons[0]})" if len(set(reasons)) == 1 else f" (e.g. {reasons[0]})")
        unknown.append(f"{codon_list} {status}{why}")
    where = f"in {sample.label}"
    if breaking:
        return Finding(sid, st, False, f"{'; '.join(breaking)} {where}", use, notes=notes, review=review, data=data)
    if unknown:
        return Finding(sid, st, None, f"{'; '.join(unknown)} {where}", use, notes=notes, review=review, data=data,
                       remedy=f"re-test {_codon_text(genes_codons)} in {sample.label}")
    if st == "plasma":
        ok, why = _plasma_negative_ok(sample, ctx.s["plasma_min_tumor_fraction_hotspot"], "hotspot")
        if not ok:
            return Finding(sid, st, None, f"no breaking mutation at {_codon_text(genes_codons)} {where}, but {why}",
                           use, notes=notes, review=review, data=data,
                           remedy="tissue hotspot testing (plasma has too little tumour DNA for a negative)")
    detail = "no mutation detected" if not notes else "no breaking mutation"
    if caveats:
        notes = notes + [f"wild type in {sample.label} rests on the clonal-mutation power at the estimated purity "
                         "(purity-aware absence, docs/purity.md)"]
    return Finding(sid, st, True, f"{detail} at {_codon_text(genes_codons)} {where}", use, notes=notes,
                   review=review, data=data, caveats=caveats)


def _ras_codons(leaf: Leaf, ctx: Context) -> dict:
    return ctx.trial_set.codons(leaf.params["genes"])


def _braf_matcher(variants):
    def match(pc: str) -> bool:
        m = PROTEIN_RE.match(pc.replace("p.", "", 1) if pc.startswith("p.") else pc)
        if not m:
            return True  # unparseable change at codon 600: conservative, counts
        change = f"{m.group(1)}{m.group(2)}{m.group(3)}"
        return any(change == v or (v == "V600" and m.group(2) == "600") for v in variants)
    return match


# ---------------------------------------------------------------------------------------------
# NRG1 fusion
# ---------------------------------------------------------------------------------------------


def _nrg1_finding(leaf: Leaf, sample: Sample, ctx: Context, use: str) -> Finding:
    blocked = _qc_block(sample, use)
    if blocked:
        return blocked
    sid, st = sample.sample_id, sample.sample_type
    row = sample.rows.get("NRG1_FUSION")
    if row is None:
        return Finding(sid, st, None, f"NRG1_FUSION not reported for {sample.label}", use,
                       remedy="NRG1 fusion testing (RNA-based preferred, [CRES-cn])")
    d, p = row.details, leaf.params
    data = {"status": row.status, "value": row.value, **{k: d.get(k) for k in (
        "partner", "egf_domain_retained", "frame", "split_reads", "discordant_pairs", "novel_partner")}}
    if row.status == "not_evaluable":
        return Finding(sid, st, None, f"NRG1 fusion not evaluable in {sample.label}: {_short(row.evidence)}", use,
                       remedy="RNA-based NRG1 fusion testing (DNA could not assess the NRG1 introns)", data=data)
    if row.status == "negative":
        if st == "plasma":
            ok, why = _plasma_negative_ok(sample, ctx.s["plasma_min_tumor_fraction_hotspot"], "fusion")
            if not ok:
                return Finding(sid, st, None, f"no NRG1 fusion in {sample.label}, but {why}", use, data=data,
                               remedy="tissue or RNA-based NRG1 fusion testing")
        return Finding(sid, st, False, f"no NRG1 fusion detected in {sample.label}", use, data=data)
    name = row.value or "NRG1 fusion"
    egf = d.get("egf_domain_retained")
    if isinstance(egf, str):
        egf = {"yes": True, "true": True, "no": False, "false": False}.get(egf.lower())
    if p.get("require_egf_domain_retained", True):
        if egf is False:
            return Finding(sid, st, False, f"{name} in {sample.label} does not retain the NRG1 EGF-like domain "
                           "(not an activating fusion, [CRES-kl])", use, data=data)
        if egf is None:
            return Finding(sid, st, None, f"{name} in {sample.label}: EGF-like domain retention unknown", use,
                           remedy="RNA confirmation of NRG1 fusion (EGF-like domain retention unknown)", data=data)
    frame = d.get("frame") or "unknown"
    if p.get("require_in_frame"):
        if frame == "out_of_frame":
            return Finding(sid, st, False, f"{name} in {sample.label} is predicted out of frame", use, data=data)
        if frame != "in_frame":
            return Finding(sid, st, None, f"{name} in {sample.label}: frame unknown", use, data=data,
                           remedy="RNA confirmation of NRG1 fusion (frame unknown)")
    split, disc = _num(d.get("split_reads")), _num(d.get("discordant_pairs"))
    min_split, min_disc = p.get("min_split_reads"), p.get("min_discordant_pairs")
    if min_split is not None or min_disc is not None:
        ok = (min_split is not None and split is not None and split >= min_split) or \
             (min_disc is not None and disc is not None and disc >= min_disc)
        if not ok:
            return Finding(sid, st, None, f"{name} in {sample.label} with weak read support (split reads "
                           f"{_fmt(split)}, discordant pairs {_fmt(disc)}; criterion needs split >= {min_split} "
                           f"or discordant >= {min_disc})", use, data=data,
                           remedy="RNA confirmation of NRG1 fusion (weak DNA evidence)")
    support = f"split reads {_fmt(split)}, discordant pairs {_fmt(disc)}"
    partner = " (novel partner)" if d.get("novel_partner") else ""
    return Finding(sid, st, True, f"{name}{partner} in {sample.label}, EGF-like domain retained, frame {frame}, "
                   f"{support} (DNA level)", use, data=data)


# ---------------------------------------------------------------------------------------------
# co-alterations
# ---------------------------------------------------------------------------------------------


def _co_alteration_finding(leaf: Leaf, sample: Sample, ctx: Context, use: str) -> Finding:
    blocked = _qc_block(sample, use)
    if blocked:
        return blocked
    sid, st = sample.sample_id, sample.sample_type
    p = leaf.params
    rc_max = ctx.s["relative_clonality_max_pct"]
    present, absent, unknown = [], [], []
    for alt in p["alterations"]:
        gene, kind = alt["gene"], alt["type"]
        if kind == "amplification":
            row = sample.rows.get(f"{gene}_CN")
            if row is None:
                unknown.append(f"{gene}_CN not reported")
            elif row.status == "positive":
                present.append(f"{gene} amplification ({gene}_CN {row.value or 'NA'})")
            elif row.status == "negative" and not (st == "plasma" and not _plasma_negative_ok(
                    sample, ctx.s["plasma_min_tumor_fraction_cn"], "copy-number")[0]):
                absent.append(f"{gene} amplification")
            else:
                unknown.append(f"{gene}_CN not evaluable")
            continue
        states, problem = _codon_states(sample, gene, alt.get("codons", "all"), ctx)
        if problem:
            unknown.append(problem)
            continue
        hits = []
        for s in states:
            if s["status"] != "detected":
                continue
            pc = s.get("protein_change") or f"codon {s['codon']}"
            if st == "plasma" and p.get("clonal_only_in_plasma"):
                rc, how = _relative_clonality(s, sample)
                if rc is not None and rc <= rc_max:
                    continue
                hits.append(f"{gene} {pc} (" + ("clonality unknown" if rc is None else
                                                 f"relative clonality {rc:.0f}%") + ")")
            else:
                hits.append(f"{gene} {pc}" + (f" VAF {s['vaf']:.3g}" if s.get("vaf") is not None else ""))
        if hits:
            present.extend(hits)
        elif any(s["status"] in ("not_evaluable", "missing") for s in states) or not states:
            unknown.append(f"{gene} not fully evaluable")
        elif st == "plasma" and not _plasma_negative_ok(sample, ctx.s["plasma_min_tumor_fraction_hotspot"],
                                                        "hotspot")[0]:
            unknown.append(f"{gene}: too little ctDNA for a negative")
        else:
            absent.append(gene)
    data = {"present": present, "absent": absent, "unknown": unknown}
    if present:
        return Finding(sid, st, False, f"{', '.join(present)} in {sample.label}", use, data=data)
    if unknown:
        return Finding(sid, st, None, f"{'; '.join(unknown)} in {sample.label}", use, data=data)
    return Finding(sid, st, True, f"none of {', '.join(absent)} in {sample.label}", use, data=data)


# ---------------------------------------------------------------------------------------------
# one criterion for one patient
# ---------------------------------------------------------------------------------------------


def _rule_text(leaf: Leaf, ctx: Context) -> str:
    """The criterion's threshold followed by the samples it reads (one line, in the reasons)."""
    text = _threshold_text(leaf, ctx)
    if leaf.is_dna:
        text += f"; samples {'+'.join(leaf.samples)}" + (f", cross-check {'+'.join(leaf.crosscheck)}"
                                                          if leaf.crosscheck else "")
    return text


def _threshold_text(leaf: Leaf, ctx: Context) -> str:
    """What the criterion requires (cut-off, codons, variants, fusion requirements), without the samples."""
    k, p = leaf.kind, leaf.params
    if k in ("erbb2_amplification", "erbb3"):
        text = _cn_rule(leaf, ctx, "ERBB2" if k == "erbb2_amplification" else "ERBB3")
    elif k == "ras_status":
        text = f"{PROPOSITION[k]} at {_codon_text(_ras_codons(leaf, ctx))}"
    elif k == "braf_status":
        text = f"no BRAF {', '.join(p['variants'])}"
    elif k == "nrg1_fusion":
        text = "partner-NRG1 fusion" + (" retaining the EGF-like domain" if p.get("require_egf_domain_retained", True)
                                        else "") + (", in frame" if p.get("require_in_frame") else "")
    elif k == "co_alteration":
        text = "flag " + ", ".join(f"{a['gene']} {a['type']}" for a in p["alterations"])
        if p.get("clonal_only_in_plasma"):
            text += f" (plasma mutations only if relative clonality > {ctx.s['relative_clonality_max_pct']:g}%)"
    else:
        text = p.get("rule") or leaf.name
    if leaf.is_dna and k in ("ras_status", "braf_status"):
        defs = {st: _wt_definition(leaf, st) for st in leaf.samples + leaf.crosscheck}
        if any(v == "relative_clonality_le" for v in defs.values()):
            rc = ctx.rc_max(p)
            parts = [f"{st}: relative clonality > {rc:g}% breaks it" if v == "relative_clonality_le"
                     else f"{st}: any detected mutation breaks it" for st, v in defs.items()]
            text += "; " + ", ".join(parts)
    return text


def _sample_finding(leaf: Leaf, sample: Sample, ctx: Context, use: str) -> Finding:
    k = leaf.kind
    if k == "erbb2_amplification":
        return _cn_finding(leaf, sample, ctx, "ERBB2", use)
    if k == "erbb3":
        return _cn_finding(leaf, sample, ctx, "ERBB3", use)
    if k == "ras_status":
        return _wild_type_finding(leaf, sample, ctx, _ras_codons(leaf, ctx), use)
    if k == "braf_status":
        return _wild_type_finding(leaf, sample, ctx, {"BRAF": [600]}, use, _braf_matcher(leaf.params["variants"]))
    if k == "nrg1_fusion":
        return _nrg1_finding(leaf, sample, ctx, use)
    if k == "co_alteration":
        return _co_alteration_finding(leaf, sample, ctx, use)
    raise ValueError(f"not a DNA criterion kind: {k}")


def combine_findings(mode: str, values) -> object:
    """Combine the accepted samples' values.

    any: true if any sample is true, else false if any is false, else unknown (presence criteria: a sample that
    cannot answer does not block another sample's clear answer);
    conservative: false if any sample is false, else true if any is true, else unknown (wild-type criteria);
    strict: Kleene and over all samples (every sample must be true).
    """
    values = list(values)
    if mode == "strict":
        return k_and(values) if values else None
    if mode == "conservative":
        return False if False in values else (True if True in values else None)
    return True if True in values else (False if False in values else None)


def evaluate_leaf(leaf: Leaf, patient: Patient, ctx: Context) -> LeafResult:
    """Evaluate one criterion for one patient (true / false / unknown with its cause)."""
    rule = _rule_text(leaf, ctx)
    threshold = _threshold_text(leaf, ctx)
    if not leaf.is_dna:
        return LeafResult(leaf, None, NEEDS_NON_DNA, f"not measurable by DNA sequencing ({leaf.evaluable_by}); "
                          f"next step: {leaf.next_step}", rule, threshold=threshold)
    accepted = [_sample_finding(leaf, s, ctx, "accepted") for s in patient.of_types(leaf.samples)]
    crossed = [_sample_finding(leaf, s, ctx, "crosscheck") for s in patient.of_types(leaf.crosscheck)]
    findings = accepted + crossed
    notes = [n for f in findings for n in f.notes]
    review = [r for f in findings for r in f.review]
    if not accepted:
        value = None
        missing = " or ".join(leaf.samples)
        remedies = [f"obtain a {missing} sample ({leaf.name})"]
        summary = f"no {missing} sample for this patient"
    else:
        value = combine_findings(leaf.combine or "any", [f.value for f in accepted])
        remedies = [f.remedy for f in accepted if f.value is None and f.remedy]
        shown = [f for f in accepted if f.value is value] or accepted
        summary = "; ".join(f.text for f in shown)
    refuting = [f for f in crossed if f.value is False]
    if refuting and value is not False:
        summary = (f"{summary}; cross-check: " if summary else "") + "; ".join(f.text for f in refuting)
        value = False
    elif crossed and value is not False:
        extra = [f.text for f in crossed if f.value is None]
        if extra:
            notes.append("cross-check could not refute: " + "; ".join(extra))
    decisive = [f for f in findings if f.value is not None]
    if any(f.value is True for f in decisive) and any(f.value is False for f in decisive):
        t = ", ".join(f"{f.sample_type} {f.sample_id} {'met' if f.value else 'not met'}" for f in decisive)
        reading = "met (a sample type the trial accepts shows it)" if value is True else "not met (conservative)"
        notes.append(f"DISCORDANT tumour/plasma results for {leaf.id}: {t}; reading: {reading}")
        review.append(f"clinical review: discordant tumour/plasma results for {leaf.name}")
    cause = INSUFFICIENT if value is None else None
    caveats = [c for f in findings if f.value is value for c in f.caveats]
    return LeafResult(leaf, value, cause, summary, rule, findings, notes, remedies if value is None else [],
                      review, threshold, _dedupe(caveats))


# =============================================================================================
# trial verdict
# =============================================================================================


@dataclass
class Verdict:
    patient_id: str
    trial: Trial
    status: str
    decided_by: list
    reasons: list
    next_steps: list
    results: dict
    logic: NodeEval
    scenarios: dict
    rule: str

    @property
    def caveats(self) -> list:
        """Caveats of the criteria the verdict rests on (met/not met DNA criteria)."""
        return _dedupe([c for leaf in self.trial.leaves() for c in self.results[leaf.id].caveats
                        if self.results[leaf.id].value is not None])

    def row(self) -> dict:
        unverified = sorted({lid for lid in self.decided_by if self.results[lid].leaf.verified_label})
        return {"patient_id": self.patient_id, "trial_id": self.trial.id, "status": self.status,
                "reasons": REASON_SEP.join(self.reasons), "next_steps": REASON_SEP.join(self.next_steps),
                "caveats": REASON_SEP.join(self.caveats),
                "nct": self.trial.nct or "", "decided_by": ",".join(self.decided_by),
                "unverified_rules": ",".join(unverified)}

    def to_json(self) -> dict:
        return {"trial_id": self.trial.id, "name": self.trial.name, "nct": self.trial.nct,
                "registry": self.trial.registry, "drug": self.trial.drug, "target": self.trial.target,
                "status": self.status, "decision_rule": self.rule, "decided_by": self.decided_by,
                "reasons": self.reasons, "next_steps": self.next_steps, "caveats": self.caveats,
                "tree": {"kleene_value": _tv(self.logic.value), "unknown_causes": sorted(self.logic.causes),
                         "root": self.logic.to_json()},
                "scenarios": {k: _tv(v.value) for k, v in self.scenarios.items()},
                "criteria": [self.results[leaf.id].to_json() for leaf in self.trial.leaves()]}


#: Scenarios for the unknown criteria (True = filled in the patient's favour). Keys: non-DNA target routes,
#: other non-DNA criteria, DNA criteria without sufficient evidence.
SCENARIOS = {
    "best_case": (True, True, True),
    "dna_target_routes_only": (False, True, True),
    "candidate_test": (False, True, False),
    "without_missing_dna": (True, True, False),
}


def _scenario(node, results: dict, fill) -> NodeEval:
    fav_nt, fav_no, fav_du = fill

    def lv(leaf, polarity):
        r = results[leaf.id]
        if r.value is not None:
            return r.value, None
        if not leaf.is_dna:
            fav = fav_nt if leaf.role == "target" else fav_no
        else:
            fav = fav_du
        return (fav if polarity else not fav), None
    return evaluate_tree(node, lv)


def decide(trial: Trial, results: dict) -> tuple:
    """(status, rule, decided_by, scenarios) for one trial given its criteria results.

    1. best_case false (every unknown filled in the patient's favour and the trial still fails): excluded when a
       failing criterion is an inclusion/exclusion, else screen_negative (only the target failed);
    2. the trial has a DNA target route and dna_target_routes_only is false (non-DNA target routes filled
       unfavourably): the target was measured by DNA and not found -> screen_negative (IHC routes remain);
    3. DNA target route and candidate_test true (non-DNA target routes AND unknown DNA criteria filled
       unfavourably, only non-DNA confirmations such as clinical review assumed): candidate;
    4. DNA target route otherwise: not_evaluable (missing DNA evidence decides);
    5. no DNA target route (selection by IHC/HER3 IHC only): not_evaluable if missing DNA evidence could still
       exclude (without_missing_dna false), else not_assessable.
    """
    root = trial.decision_root
    sc = {name: _scenario(root, results, fill) for name, fill in SCENARIOS.items()}
    leaves = list(iter_leaves(root))
    has_dna_target = any(l.is_dna and l.role == "target" for l in leaves)
    known_false = [d for d in sc["best_case"].deciders if results[d].value is not None] \
        if sc["best_case"].value is False else []
    if sc["best_case"].value is False:
        excl = [d for d in known_false if results[d].leaf.role in ("inclusion", "exclusion")]
        if excl:
            return "excluded", "a DNA-assessed protocol criterion is not met whatever the unknowns", excl, sc
        return "screen_negative", "the DNA-assessed target is not met whatever the unknowns", known_false, sc
    if has_dna_target and sc["dna_target_routes_only"].value is False:
        dna_targets = [l.id for l in leaves if l.is_dna and l.role == "target" and results[l.id].value is False]
        return ("screen_negative", "every DNA route to the target was measured and not found; only non-DNA routes "
                "remain", dna_targets, sc)
    if has_dna_target and sc["candidate_test"].value is True:
        support = [d for d in sc["candidate_test"].deciders if results[d].value is True]
        if any(results[d].leaf.role == "target" and results[d].leaf.is_dna for d in support):
            return ("candidate", "every DNA-assessable criterion supports the patient without relying on unknown "
                    "DNA evidence or on non-DNA target routes", support, sc)
    missing = [l.id for l in leaves if l.is_dna and results[l.id].value is None]
    if has_dna_target:
        return "not_evaluable", "the DNA evidence needed to decide is missing or insufficient", missing, sc
    if sc["without_missing_dna"].value is not True:
        return ("not_evaluable", "the trial selects on non-DNA criteria, and the DNA criteria that could exclude "
                "the patient lack evidence", missing, sc)
    dna = [l.id for l in leaves if l.is_dna]
    return ("not_assessable", "the trial selects only on criteria DNA cannot measure; DNA found no exclusion",
            dna, sc)


def _dedupe(items) -> list:
    out = []
    for x in items:
        if x and x not in out:
            out.append(x)
    return out


def verdict(trial: Trial, patient: Patient, ctx: Context) -> Verdict:
    results = {leaf.id: evaluate_leaf(leaf, patient, ctx) for leaf in trial.leaves()}
    status, rule, decided_by, sc = decide(trial, results)
    logic = evaluate_tree(trial.decision_root, lambda leaf, pol: (results[leaf.id].value, results[leaf.id].cause))
    assert status in ELIGIBILITY_STATUSES
    leaves = list(iter_leaves(trial.decision_root))
    non_dna = [l for l in leaves if not l.is_dna]
    nt_steps = [l.next_step for l in non_dna if l.role == "target"]
    other_steps = [l.next_step for l in non_dna if l.role != "target"]

    # --- reasons: summary, deciding criteria, other DNA criteria, informational flags, notes
    head = {
        "candidate": "candidate: every DNA-assessable criterion supports the patient; non-DNA criteria pending "
                     "(next_steps)",
        "excluded": f"excluded by {', '.join(decided_by)} (DNA)",
        "screen_negative": f"target not found by DNA ({', '.join(decided_by)})"
                           + ("; non-DNA target routes remain (next_steps)" if nt_steps else ""),
        "not_evaluable": f"not evaluable: insufficient DNA evidence for {', '.join(decided_by) or 'the criteria'}",
        "not_assessable": "not assessable by DNA: the trial selects on "
                          + ", ".join(l.name for l in non_dna if l.role == "target")
                          + (" ; DNA found no exclusion" if any(l.is_dna for l in leaves) else ""),
    }[status]
    reasons = [head]
    ordered = decided_by + [l.id for l in leaves if l.is_dna and l.id not in decided_by]
    reasons += [results[i].reason() for i in _dedupe(ordered)]
    for leaf in trial.informational:
        r = results[leaf.id]
        if r.value is not None:
            reasons.append(r.reason())
    notes = [n for l in trial.leaves() for n in results[l.id].notes]
    reasons += _dedupe(notes)
    unverified = [results[i].leaf for i in decided_by if results[i].leaf.verified_label
                  and status in ("candidate", "excluded", "screen_negative")]
    if unverified:
        reasons.append("decided by " + ", ".join(f"{l.id} ({l.verified_label})" for l in unverified)
                       + ": rule not verified against the protocol, see docs/eligibility.md")

    # --- next steps by status
    review = [r for l in trial.leaves() for r in results[l.id].review]
    flags = [results[l.id].leaf.next_step for l in trial.informational
             if results[l.id].flag_raised and results[l.id].leaf.next_step]
    verify = [f"verify {l.name} against the {trial.id} protocol ({l.verified_label})" for l in unverified]
    if status == "candidate":
        steps = nt_steps + other_steps + verify + flags + review
    elif status == "excluded":
        steps = verify + review
    elif status == "screen_negative":
        steps = [f"remaining route: {s}" for s in nt_steps] + review
    elif status == "not_evaluable":
        rem = [m for i in decided_by for m in results[i].remedies]
        steps = rem + nt_steps + other_steps + review
    else:  # not_assessable
        steps = nt_steps + other_steps + flags + review
    return Verdict(patient.patient_id, trial, status, decided_by, _dedupe(reasons), _dedupe(steps), results, logic,
                   sc, rule)


# =============================================================================================
# cohort funnel
# =============================================================================================


def _funnel_leaves(ctx: Context) -> dict:
    f = ctx.s["funnel"]
    src = ["domain-spec §1.2"]
    both = ("tumor", "plasma")
    wtd = {"tumor": "absent", "plasma": "relative_clonality_le"}
    return {
        "amp": Leaf("funnel_erbb2", "erbb2_amplification", "target", True, src, "ERBB2 amplified", samples=both,
                    combine="any", params={"metric": "call"}),
        "ras": Leaf("funnel_ras", "ras_status", "inclusion", True, src, "RAS wild type", samples=both,
                    combine="conservative", params={"genes": f["ras_codons"], "wild_type_definition": wtd}),
        "braf": Leaf("funnel_braf", "braf_status", "inclusion", True, src, "BRAF wild type", samples=both,
                     combine="conservative",
                     params={"variants": list(f["braf_variants"]), "wild_type_definition": wtd}),
    }


def funnel(patients: dict, verdicts: list, trial_set: TrialSet, ctx: Context) -> pd.DataFrame:
    """Cohort funnel: screened -> evaluable -> ERBB2 amplified -> RAS/BRAF wild type -> candidates per trial."""
    leaves = _funnel_leaves(ctx)
    if ctx.s["funnel"]["ras_codons"] not in trial_set.codon_sets:
        raise InputError(f"config eligibility.funnel.ras_codons {ctx.s['funnel']['ras_codons']!r} is not a codon set "
                         f"of {trial_set.path} ({', '.join(trial_set.codon_sets)})", header="Eligibility configuration")
    amp = {pid: evaluate_leaf(leaves["amp"], p, ctx).value for pid, p in patients.items()}
    screened = list(patients)
    evaluable = [pid for pid in screened if amp[pid] is not None]
    amplified = [pid for pid in evaluable if amp[pid] is True]
    wild = [pid for pid in amplified if evaluate_leaf(leaves["ras"], patients[pid], ctx).value is True
            and evaluate_leaf(leaves["braf"], patients[pid], ctx).value is True]
    codons = _codon_text(trial_set.codons(ctx.s["funnel"]["ras_codons"]))
    rows = [
        ("screened", screened, "", "patients in biomarkers.tsv / qc.tsv"),
        ("evaluable", evaluable, "screened", "ERBB2 amplification decidable (amplified or confidently not) in at "
                                             "least one tumour or plasma sample"),
        ("erbb2_amplified", amplified, "evaluable", "ERBB2 amplification call (copy-number stage) in any tumour or "
                                                   "plasma sample"),
        ("ras_braf_wild_type", wild, "erbb2_amplified",
         f"and RAS wild type at {codons} (tumour: no mutation; plasma: relative clonality <= "
         f"{ctx.s['relative_clonality_max_pct']:g}%) and no BRAF {', '.join(ctx.s['funnel']['braf_variants'])}"),
    ]
    out = [{"step": s, "n": len(ids), "of": of, "patients": ",".join(ids), "definition": d, "status_counts": ""}
           for s, ids, of, d in rows]
    for trial in trial_set.trials:
        vs = [v for v in verdicts if v.trial.id == trial.id]
        counts = {st: sum(v.status == st for v in vs) for st in ELIGIBILITY_STATUSES}
        cands = [v.patient_id for v in vs if v.status == "candidate"]
        out.append({"step": f"candidate:{trial.id}", "n": len(cands), "of": "screened", "patients": ",".join(cands),
                    "definition": f"status candidate for {trial.id} ({trial.name})",
                    "status_counts": ";".join(f"{k}={v}" for k, v in counts.items())})
    return pd.DataFrame(out, columns=["step", "n", "of", "patients", "definition", "status_counts"])


# =============================================================================================
# running
# =============================================================================================


def evaluate_cohort(patients: dict, trial_set: TrialSet, settings: dict) -> list:
    ctx = Context(trial_set, settings)
    return [verdict(t, p, ctx) for p in patients.values() for t in trial_set.trials]


def eligibility_frame(verdicts: list) -> pd.DataFrame:
    cols = COLUMNS["eligibility"] + ["nct", "decided_by", "unverified_rules"]
    return pd.DataFrame([v.row() for v in verdicts], columns=cols)


def patient_json(patient: Patient, verdicts: list, trial_set: TrialSet, settings: dict) -> dict:
    return {
        "patient_id": patient.patient_id,
        "engine": {"erbbscreen_version": __version__, "trials_file": str(trial_set.path),
                   "trials_sha256": trial_set.sha256, "settings": settings},
        "samples": [{"sample_id": s.sample_id, "sample_type": s.sample_type, "qc_status": s.qc_status,
                     "qc_reasons": s.qc_reasons, "used": s.sample_type in EVAL_SAMPLE_TYPES,
                     "tumor_fraction": s.tumor_fraction()[0] if s.sample_type == "plasma" else None,
                     "biomarkers": {k: {"status": r.status, "value": r.value, "evidence": r.evidence,
                                        "details": r.details, "line": r.line} for k, r in s.rows.items()}}
                    for s in patient.samples],
        "trials": [v.to_json() for v in verdicts],
    }


def run(biomarkers, qc=None, trials=None, out_table=None, out_funnel=None, out_patients=None,
        settings: dict | None = None) -> pd.DataFrame:
    """Evaluate a cohort and write eligibility.tsv, funnel.tsv and one JSON per patient; returns the table."""
    trial_set = load_trials(trials)
    s = load_settings(settings)
    bm = read_biomarkers(biomarkers)
    qc_df = read_qc(qc) if qc else None
    patients = build_patients(bm, qc_df)
    verdicts = evaluate_cohort(patients, trial_set, s)
    table = eligibility_frame(verdicts)
    if out_table:
        write_table(table, out_table, "eligibility")
    if out_funnel:
        write_table(funnel(patients, verdicts, trial_set, Context(trial_set, s)), out_funnel)
    if out_patients:
        out_dir = Path(out_patients)
        out_dir.mkdir(parents=True, exist_ok=True)
        by_patient = {}
        for v in verdicts:
            by_patient.setdefault(v.patient_id, []).append(v)
        for pid, patient in patients.items():
            doc = patient_json(patient, by_patient.get(pid, []), trial_set, s)
            tmp = out_dir / f".{pid}.json.tmp"
            # one line (the C encoder; `python -m json.tool` or jq pretty-prints it)
            tmp.write_text(json.dumps(doc, default=str, ensure_ascii=False) + "\n")
            tmp.replace(out_dir / f"{pid}.json")
    counts = table["status"].value_counts().to_dict()
    log.info("%d patients x %d trials: %s", len(patients), len(trial_set.trials),
             ", ".join(f"{k} {counts.get(k, 0)}" for k in ELIGIBILITY_STATUSES))
    return table


def compare_to_expected(eligibility_df: pd.DataFrame, expected_path) -> list:
    """Differences between an eligibility table and an expected table (patient_id, trial_id, expected_status, why).

    Returns one message per mismatching, missing or unexpected (patient, trial) pair; empty when they agree.
    """
    exp = read_table(expected_path)
    got = {(r["patient_id"], r["trial_id"]): r["status"] for _, r in eligibility_df.iterrows()}
    problems = []
    seen = set()
    for _, r in exp.iterrows():
        key = (r["patient_id"], r["trial_id"])
        seen.add(key)
        if key not in got:
            problems.append(f"{key[0]} x {key[1]}: missing from the eligibility table (expected "
                            f"{r['expected_status']}: {r.get('why', '')})")
        elif got[key] != r["expected_status"]:
            problems.append(f"{key[0]} x {key[1]}: got {got[key]}, expected {r['expected_status']} "
                            f"({r.get('why', '')})")
    for key in sorted(set(got) - seen):
        problems.append(f"{key[0]} x {key[1]}: not in the expected table (got {got[key]})")
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="erbb-screen eligibility",
        description="Trial verdicts (candidate / excluded / screen_negative / not_evaluable / not_assessable) for "
                    "every patient x trial from a biomarkers.tsv (docs/biomarkers.md) and optional qc.tsv.")
    ap.add_argument("--biomarkers", required=True, help="biomarkers.tsv (contract columns + optional details)")
    ap.add_argument("--qc", help="qc.tsv (sample_id, patient_id, sample_type, status, reasons); a 'fail' sample "
                                 "is never used")
    ap.add_argument("--trials", help=f"trial rule set YAML (default {Path('config') / 'trials.yaml'} of the workflow)")
    ap.add_argument("--config", help="a workflow config YAML whose 'eligibility' block overrides the defaults")
    ap.add_argument("--out-dir", required=True, help="writes eligibility.tsv, funnel.tsv, patients/<patient>.json")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        overrides = None
        if args.config:
            with open(args.config) as fh:
                overrides = (yaml.safe_load(fh) or {}).get("eligibility") or {}
        out = Path(args.out_dir)
        table = run(args.biomarkers, args.qc, args.trials, out / "eligibility.tsv", out / "funnel.tsv",
                    out / "patients", overrides)
    except InputError as exc:
        print(f"erbb-screen eligibility: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"erbb-screen eligibility: {exc}", file=sys.stderr)
        return 1
    counts = table["status"].value_counts().to_dict()
    print(f"{table['patient_id'].nunique()} patients x {table['trial_id'].nunique()} trials -> {out}: "
          + ", ".join(f"{k} {counts.get(k, 0)}" for k in ELIGIBILITY_STATUSES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
