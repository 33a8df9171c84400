"""Tests of the trial eligibility engine (erbbscreen.eligibility, erbbscreen.trials, config/trials.yaml).

Profiles are built row by row with the helpers below (the same rows a stage publishes, docs/biomarkers.md); every
expected status is derived from the rules in docs/eligibility.md, not from running the engine.
"""
from __future__ import annotations

import copy
import itertools
import json
import random
from pathlib import Path

import pandas as pd
import pytest
import yaml

from erbbscreen import ELIGIBILITY_STATUSES
from erbbscreen import eligibility as el
from erbbscreen.errors import InputError
from erbbscreen.tables import read_table, write_table
from erbbscreen.trials import DEFAULT_TRIALS, Group, Leaf, iter_leaves, load_trials

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "eligibility"
EXPECTED = ROOT / "tests" / "cohort" / "expected_eligibility.tsv"
CONTRACT_TRIALS = ["HERACLES_A", "HERACLES_B", "MYPATHWAY_HER2", "TAPUR_HER2", "TRIUMPH_TISSUE", "TRIUMPH_BLOOD",
                   "MOUNTAINEER", "MOUNTAINEER_03", "DESTINY_CRC01", "DESTINY_CRC02", "SWOG_S1613", "NCT03929666",
                   "NCT04380012", "NCT05356897", "NCT05193292", "CRESTONE", "HER3_DXD_CRC"]
CODONS = {"KRAS": [12, 13, 59, 61, 117, 146], "NRAS": [12, 13, 59, 61, 117, 146], "BRAF": [600],
          "PIK3CA": [542, 545, 1047]}


@pytest.fixture(scope="module")
def trial_set():
    return load_trials(DEFAULT_TRIALS)


@pytest.fixture(scope="module")
def settings():
    return el.load_settings()


# =============================================================================================
# profile builder
# =============================================================================================


class Profile:
    """Biomarker rows of one patient, built like the stages write them."""

    def __init__(self, pid="X1", prefix=False):
        self.pid = pid
        self.prefix = prefix  # sample ids "<pid>-<sid>" (cohorts of many profiles)
        self.rows = []
        self.qc = []

    def _sid(self, sid):
        return f"{self.pid}-{sid}" if self.prefix else sid

    def sample(self, sid, st, qc="pass", reasons=""):
        self.qc.append({"sample_id": self._sid(sid), "patient_id": self.pid, "sample_type": st, "status": qc,
                        "reasons": reasons})
        return self

    def _row(self, sid, st, biomarker, status, value="", evidence="", details=None):
        self.rows.append({"patient_id": self.pid, "sample_id": self._sid(sid), "sample_type": st,
                          "biomarker": biomarker,
                          "status": status, "value": value, "evidence": evidence or f"{biomarker} {status}",
                          "details": json.dumps(details or {})})
        return self

    def cn(self, sid, st, call, cn=None, gene="ERBB2", purity_source="sample_sheet", log2=None, pcn=None,
           apcn=None, apcn_status=None):
        status = {"amplification": "positive", "not_evaluable": "not_evaluable"}.get(call, "negative")
        d = {"call": call, "purity_source": purity_source}
        if st == "plasma":
            d.update({"pcn": pcn, "apcn": apcn, "apcn_status": apcn_status})
            value = "" if pcn is None else str(pcn)
        else:
            d.update({"copy_number": cn, "log2": log2})
            value = "" if cn is None else str(cn)
        return self._row(sid, st, f"{gene}_CN", status, value, details={k: v for k, v in d.items() if v is not None})

    def hot(self, sid, st, gene, muts=None, ne=(), missing=(), gene_level=False, status=None):
        """muts: {codon: (protein_change, vaf, relative_clonality or None)}; ne: codons not_evaluable."""
        muts = muts or {}
        if gene_level:
            st_ = status or ("positive" if muts else "negative")
            return self._row(sid, st, gene, st_, ",".join(m[0] for m in muts.values()))
        codons = {}
        for c in CODONS[gene]:
            if c in missing:
                continue
            if c in ne:
                codons[str(c)] = {"status": "not_evaluable", "reason": "depth 12 < 30"}
            elif c in muts:
                pc, vaf, rc = muts[c]
                codons[str(c)] = {"status": "detected", "protein_change": pc, "vaf": vaf}
                if rc is not None:
                    codons[str(c)]["relative_clonality"] = rc
            else:
                codons[str(c)] = {"status": "not_detected", "depth": 500}
        st_ = status or ("positive" if muts else ("not_evaluable" if ne else "negative"))
        return self._row(sid, st, gene, st_, ",".join(m[0] for m in muts.values()), details={"codons": codons})

    def nrg1(self, sid, st, status="negative", **fusion):
        value = f"{fusion.get('partner', 'CD74')}-NRG1" if status == "positive" else ""
        return self._row(sid, st, "NRG1_FUSION", status, value, details=fusion)

    def tf(self, sid, st, status, value=None, max_vaf=None):
        d = {"method": "max_somatic_vaf"}
        if max_vaf is not None:
            d["max_vaf"] = max_vaf
        return self._row(sid, st, "TUMOR_FRACTION", status, "" if value is None else str(value), details=d)

    def tissue(self, sid="T", erbb2=("neutral", 2.0), erbb3=("neutral", 2.0), muts=None, nrg1="negative",
               fusion=None, qc="pass"):
        """A complete, evaluable tumour sample; muts = {gene: {codon: (pc, vaf, rc)}}."""
        muts = muts or {}
        self.sample(sid, "tumor", qc)
        self.cn(sid, "tumor", erbb2[0], erbb2[1])
        self.cn(sid, "tumor", erbb3[0], erbb3[1], gene="ERBB3")
        for g in CODONS:
            self.hot(sid, "tumor", g, muts.get(g))
        self.nrg1(sid, "tumor", nrg1, **(fusion or {}))
        return self.tf(sid, "tumor", "positive", 0.5)

    def plasma(self, sid="L", f=0.1, erbb2="neutral", pcn=2.0, apcn=2.0, muts=None, tf_status="positive"):
        muts = muts or {}
        self.sample(sid, "plasma")
        self.cn(sid, "plasma", erbb2, pcn=pcn, apcn=apcn, apcn_status="ok" if f else "not_evaluable")
        for g in CODONS:
            self.hot(sid, "plasma", g, muts.get(g))
        self.nrg1(sid, "plasma")
        return self.tf(sid, "plasma", tf_status, f if tf_status == "positive" else None)

    def frames(self):
        return pd.DataFrame(self.rows), pd.DataFrame(self.qc)


def patients_of(*profiles, tmp=None):
    rows = pd.concat([p.frames()[0] for p in profiles], ignore_index=True)
    qc = pd.concat([p.frames()[1] for p in profiles], ignore_index=True)
    d = Path(tmp) if tmp else Path("/tmp")
    write_table(rows, d / "bm.tsv", "biomarkers")
    write_table(qc, d / "qc.tsv", "qc")
    return el.build_patients(el.read_biomarkers(d / "bm.tsv"), el.read_qc(d / "qc.tsv"))


def statuses(profile, trial_set, settings, tmp_path):
    patients = patients_of(profile, tmp=tmp_path)
    return {v.trial.id: v for v in el.evaluate_cohort(patients, trial_set, settings)}


AMP = ("amplification", 12.0)
GAIN = ("gain", 3.0)
G12D = {"KRAS": {12: ("p.G12D", 0.25, None)}}


# =============================================================================================
# three-valued logic: truth tables
# =============================================================================================

TV = [True, False, None]


@pytest.mark.parametrize("a,expected", [(True, False), (False, True), (None, None)])
def test_not_truth_table(a, expected):
    assert el.k_not(a) is expected


@pytest.mark.parametrize("a,b", list(itertools.product(TV, TV)))
def test_and_or_truth_tables(a, b):
    # Kleene strong three-valued logic, written out: false dominates and, true dominates or
    and_table = {(True, True): True, (True, False): False, (True, None): None, (False, True): False,
                 (False, False): False, (False, None): False, (None, True): None, (None, False): False,
                 (None, None): None}
    or_table = {(True, True): True, (True, False): True, (True, None): True, (False, True): True,
                (False, False): False, (False, None): None, (None, True): True, (None, False): None,
                (None, None): None}
    assert el.k_and([a, b]) is and_table[(a, b)]
    assert el.k_or([a, b]) is or_table[(a, b)]
    # De Morgan holds in Kleene logic
    assert el.k_not(el.k_and([a, b])) is el.k_or([el.k_not(a), el.k_not(b)])


def _leaf(lid, role="inclusion", kind="ras_status"):
    return Leaf(lid, kind, role, True, ["S2"])


def _eval(node, values, causes=None):
    causes = causes or {}
    return el.evaluate_tree(node, lambda leaf, pol: (values[leaf.id], causes.get(leaf.id, el.INSUFFICIENT)))


def test_tree_logic_deciders_and_causes():
    a, b, c = _leaf("a"), _leaf("b"), _leaf("c", kind="ihc")
    tree = Group("all_of", [a, Group("any_of", [b, c])])
    # false in all_of wins, whatever the unknowns
    r = _eval(tree, {"a": False, "b": None, "c": None})
    assert r.value is False and r.deciders == ["a"]
    # true in any_of wins over an unknown sibling
    r = _eval(tree, {"a": True, "b": True, "c": None})
    assert r.value is True
    assert r.children[1].deciders == ["b"]
    # unknown propagates with its cause(s)
    r = _eval(tree, {"a": True, "b": False, "c": None}, {"c": el.NEEDS_NON_DNA})
    assert r.value is None and r.causes == {el.NEEDS_NON_DNA} and r.deciders == ["c"]
    r = _eval(tree, {"a": None, "b": None, "c": None}, {"a": el.INSUFFICIENT, "c": el.NEEDS_NON_DNA})
    assert r.value is None and r.causes == {el.INSUFFICIENT, el.NEEDS_NON_DNA}
    # not swaps true/false and keeps unknown
    neg = Group("not", [a])
    assert _eval(neg, {"a": True}).value is False
    assert _eval(neg, {"a": False}).value is True
    assert _eval(neg, {"a": None}).value is None


COMBINE = [  # (mode, sample values, combined)
    ("any", [True, False], True), ("any", [None, False], False), ("any", [None, None], None), ("any", [], None),
    ("conservative", [True, False], False), ("conservative", [True, None], True),
    ("conservative", [None, None], None), ("conservative", [], None),
    ("strict", [True, None], None), ("strict", [True, True], True), ("strict", [None, False], False),
]


@pytest.mark.parametrize("mode,values,expected", COMBINE)
def test_combine_samples(mode, values, expected):
    assert el.combine_findings(mode, values) is expected


def test_conservative_merge_of_accepted_samples(trial_set, settings, tmp_path):
    # NCT05193292 reads RAS in tumour and plasma alike: a clonal plasma KRAS outweighs a wild-type tissue
    v = statuses(p_tissue_wt_plasma_clonal(), trial_set, settings, tmp_path)["NCT05193292"]
    assert v.results["ras_flag"].value is False
    assert v.results["ras_flag"].flag_raised


def test_tree_polarity_under_not():
    seen = {}
    tree = Group("all_of", [_leaf("a"), Group("not", [Group("any_of", [_leaf("b"), Group("not", [_leaf("c")])])])])

    def lv(leaf, polarity):
        seen[leaf.id] = polarity
        return True, None
    el.evaluate_tree(tree, lv)
    assert seen == {"a": True, "b": False, "c": True}


# =============================================================================================
# decision: status from criteria results (small synthetic trials)
# =============================================================================================


def _result(leaf, value, cause=None):
    if value is None and cause is None:
        cause = el.INSUFFICIENT if leaf.is_dna else el.NEEDS_NON_DNA
    return el.LeafResult(leaf, value, cause, "s", "r")


def _trial(root):
    from erbbscreen.trials import Trial
    return Trial("T", "t", None, "d", "HER2", ["S2"], root)


NGS = Leaf("ngs", "erbb2_amplification", "target", True, ["S2"], samples=("tumor",), params={"metric": "call"})
IHC = Leaf("ihc", "ihc", "target", True, ["S2"], next_step="HER2 IHC")
RAS = Leaf("ras", "ras_status", "inclusion", True, ["S2"], samples=("tumor",))
CLIN = Leaf("clin", "clinical", "inclusion", True, ["S2"], next_step="clinical review")

# (tree, {leaf: value}, expected status): every path of decide()
DECISIONS = [
    # NGS route OR IHC route, AND RAS wild type, AND clinical
    ("route", {"ngs": True, "ras": True}, "candidate"),
    ("route", {"ngs": True, "ras": False}, "excluded"),
    ("route", {"ngs": False, "ras": False}, "excluded"),          # excluded wins over screen_negative
    ("route", {"ngs": False, "ras": True}, "screen_negative"),     # only the IHC route remains
    ("route", {"ngs": False, "ras": None}, "screen_negative"),    # target measured, not found
    ("route", {"ngs": None, "ras": True}, "not_evaluable"),       # never candidate via the IHC route
    ("route", {"ngs": True, "ras": None}, "not_evaluable"),       # never candidate from unknown RAS
    ("route", {"ngs": None, "ras": None}, "not_evaluable"),
    ("route", {"ngs": None, "ras": False}, "excluded"),
    # DNA-only target AND RAS
    ("dna", {"ngs": False, "ras": True}, "screen_negative"),
    ("dna", {"ngs": False, "ras": None}, "screen_negative"),
    ("dna", {"ngs": True, "ras": True}, "candidate"),
    # IHC-only selection AND RAS: DNA can only exclude
    ("ihc", {"ras": True}, "not_assessable"),
    ("ihc", {"ras": False}, "excluded"),
    ("ihc", {"ras": None}, "not_evaluable"),
    # IHC-only, nothing DNA can decide
    ("ihc_only", {}, "not_assessable"),
]
TREES = {
    "route": lambda: Group("all_of", [Group("any_of", [IHC, NGS]), RAS, CLIN]),
    "dna": lambda: Group("all_of", [NGS, RAS, CLIN]),
    "ihc": lambda: Group("all_of", [IHC, RAS, CLIN]),
    "ihc_only": lambda: Group("all_of", [IHC, CLIN]),
}


@pytest.mark.parametrize("tree,values,expected", DECISIONS)
def test_decide_truth_table(tree, values, expected):
    trial = _trial(TREES[tree]())
    results = {leaf.id: _result(leaf, values.get(leaf.id)) for leaf in trial.leaves()}
    status, _, decided_by, _ = el.decide(trial, results)
    assert status == expected
    if status == "excluded":
        assert decided_by == ["ras"]


def test_decide_with_not_node():
    # a trial written as "target and NOT (RAS mutated)": not(ras wild type) is false when RAS is wild type
    mutated = Group("not", [RAS])
    trial = _trial(Group("all_of", [NGS, Group("not", [mutated])]))
    for ras, expected in ((True, "candidate"), (False, "excluded"), (None, "not_evaluable")):
        results = {"ngs": _result(NGS, True), "ras": _result(RAS, ras)}
        assert el.decide(trial, results)[0] == expected


# =============================================================================================
# rule set: bundled file and schema errors
# =============================================================================================


def test_bundled_trials_are_the_contract_trials(trial_set):
    assert [t.id for t in trial_set.trials] == CONTRACT_TRIALS
    for t in trial_set.trials:
        assert t.drug and t.target in ("HER2", "HER3", "NRG1") and t.sources
        assert t.nct or t.registry, f"{t.id}: neither an NCT id nor a registry note"
        for leaf in t.leaves():
            assert leaf.sources, f"{t.id}.{leaf.id} cites no source"
            if not leaf.is_dna:
                assert leaf.next_step, f"{t.id}.{leaf.id}: a non-DNA criterion needs a next_step"
    by_id = trial_set.by_id()
    # domain-spec flags carried over
    def leaf(trial, leaf_id):
        return next(x for x in by_id[trial].leaves() if x.id == leaf_id)
    assert leaf("TRIUMPH_BLOOD", "ras_rc").params["rc_max_pct"] == 30
    assert leaf("SWOG_S1613", "ras_ext").role == "exclusion"
    assert leaf("NCT05356897", "gcn6").verified == "assumed"
    assert leaf("HERACLES_B", "ras_wt").verified == "assumed"
    # IHC/ISH-selected HER2 trials carry the DNA screen route, labelled as an assumption
    assert leaf("HERACLES_A", "erbb2_dna_screen").verified == "assumed"


def _broken(tmp_path, mutate):
    doc = yaml.safe_load(DEFAULT_TRIALS.read_text())
    mutate(doc)
    p = tmp_path / "trials.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    with pytest.raises(InputError) as exc:
        load_trials(p)
    return str(exc.value), str(p)


def _trial_doc(doc, tid):
    return next(t for t in doc["trials"] if t["id"] == tid)


SCHEMA_ERRORS = [
    ("misspelled criterion key", lambda d: _trial_doc(d, "HERACLES_A")["criteria"][1].update(
        {"parms": _trial_doc(d, "HERACLES_A")["criteria"][1].pop("params")}),
     ["trial HERACLES_A", "criteria[1].parms", "unknown key 'parms'", "allowed:", "params"]),
    ("unknown kind", lambda d: _trial_doc(d, "MYPATHWAY_HER2")["criteria"][0]["any_of"][0].update(
        {"kind": "erbb2_amp"}),
     ["trial MYPATHWAY_HER2", "criteria[0].any_of[0].kind", "'erbb2_amp' is not an allowed criterion kind",
      "erbb2_amplification"]),
    ("misspelled trial key", lambda d: _trial_doc(d, "HERACLES_B").update(
        {"critera": _trial_doc(d, "HERACLES_B").pop("criteria")}),
     ["trial HERACLES_B", "unknown key 'critera'", "criteria"]),
    ("misspelled group operator", lambda d: _trial_doc(d, "TAPUR_HER2")["criteria"][0].update(
        {"anyof": _trial_doc(d, "TAPUR_HER2")["criteria"][0].pop("any_of")}),
     ["trial TAPUR_HER2", "criteria[0].anyof", "allowed: all_of, any_of"]),
    ("unknown role", lambda d: _trial_doc(d, "HERACLES_A")["criteria"][1].update({"role": "inclusive"}),
     ["criteria[1].role", "'inclusive'", "target, inclusion, exclusion, informational"]),
    ("bad verified flag", lambda d: _trial_doc(d, "HERACLES_A")["criteria"][1].update({"verified": "yes"}),
     ["criteria[1].verified", "true, false, assumed"]),
    ("unknown codon set", lambda d: _trial_doc(d, "HERACLES_A")["criteria"][1]["params"].update(
        {"genes": "ras_extnded"}), ["criteria[1].params.genes", "unknown codon set 'ras_extnded'", "ras_extended"]),
    ("unknown metric", lambda d: _trial_doc(d, "TRIUMPH_BLOOD")["criteria"][0]["params"].update(
        {"metric": "plasma_cn"}), ["trial TRIUMPH_BLOOD", "criteria[0].params.metric", "plasma_apcn"]),
    ("metric on the wrong sample type", lambda d: _trial_doc(d, "TRIUMPH_BLOOD")["criteria"][0]["params"].update(
        {"metric": "tissue_cn", "op": ">=", "value": 6}), ["metric 'tissue_cn' applies to tumor samples only"]),
    ("uncited source", lambda d: _trial_doc(d, "SWOG_S1613")["criteria"][1]["sources"].append("[NOWHERE] p. 3"),
     ["trial SWOG_S1613", "source '[NOWHERE] p. 3' does not start with a key"]),
    ("informational inside any_of", lambda d: _trial_doc(d, "MOUNTAINEER")["criteria"][0]["any_of"][2].update(
        {"role": "informational"}), ["informational criterion 'her2_ngs' must sit directly"]),
    ("no target", lambda d: _trial_doc(d, "HER3_DXD_CRC")["criteria"][0].update({"role": "inclusion"}),
     ["trial HER3_DXD_CRC", "no criterion with role 'target'"]),
    ("duplicate criterion id", lambda d: _trial_doc(d, "HERACLES_A")["criteria"][2].update({"id": "kras_ex2_wt"}),
     ["duplicate criterion id 'kras_ex2_wt'"]),
    ("duplicate trial id", lambda d: _trial_doc(d, "HERACLES_B").update({"id": "HERACLES_A"}),
     ["duplicate trial id 'HERACLES_A'"]),
    ("samples on a non-DNA criterion", lambda d: _trial_doc(d, "HERACLES_A")["criteria"][0]["any_of"][0].update(
        {"samples": ["tumor"]}), ["criteria[0].any_of[0].samples: not allowed for kind 'ihc'"]),
    ("criterion without kind", lambda d: _trial_doc(d, "HERACLES_A")["criteria"][1].pop("kind"),
     ["criteria[1]: criterion without 'kind'"]),
    ("bad NCT id", lambda d: _trial_doc(d, "MOUNTAINEER").update({"nct": "NCT123"}),
     ["trial MOUNTAINEER", "nct: 'NCT123' does not match"]),
]


@pytest.mark.parametrize("name,mutate,needles", SCHEMA_ERRORS, ids=[s[0] for s in SCHEMA_ERRORS])
def test_schema_rejects_with_clear_message(tmp_path, name, mutate, needles):
    msg, path = _broken(tmp_path, mutate)
    assert path in msg, msg  # names the file
    for needle in needles:
        assert needle in msg, f"{needle!r} not in:\n{msg}"


def test_schema_reports_every_problem_at_once(tmp_path):
    def two(d):
        _trial_doc(d, "HERACLES_A")["criteria"][1]["kind"] = "ras"
        _trial_doc(d, "CRESTONE")["drugs"] = "x"
    msg, _ = _broken(tmp_path, two)
    assert "(2)" in msg and "trial HERACLES_A" in msg and "trial CRESTONE" in msg


# =============================================================================================
# settings
# =============================================================================================


def test_config_yaml_eligibility_matches_schema_defaults():
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["eligibility"]
    defaults = el._schema_defaults(el.eligibility_schema())
    assert cfg == defaults


def test_settings_validated_and_derived():
    s = el.load_settings()
    assert s["plasma_min_tumor_fraction_cn"] == pytest.approx(0.1)  # (2.4 - 2) / (6 - 2)
    assert el.load_settings({"plasma_min_tumor_fraction_cn": 0.2})["plasma_min_tumor_fraction_cn"] == 0.2
    with pytest.raises(InputError, match="relative_clonality_max_pct"):
        el.load_settings({"relative_clonality_max_pct": 130})
    with pytest.raises(InputError, match="Additional properties"):
        el.load_settings({"rc_max": 30})


# =============================================================================================
# per-trial verdicts on synthetic profiles (table-driven)
# =============================================================================================


def p_amp_wt():
    return Profile().tissue(erbb2=AMP)


def p_amp_kras():
    return Profile().tissue(erbb2=AMP, muts=G12D)


def p_gain_wt():
    return Profile().tissue(erbb2=GAIN)


def p_amp_braf():
    return Profile().tissue(erbb2=AMP, muts={"BRAF": {600: ("p.V600E", 0.2, None)}})


def p_amp_braf_v600k():
    return Profile().tissue(erbb2=AMP, muts={"BRAF": {600: ("p.V600K", 0.2, None)}})


def p_amp_nras_q61():
    return Profile().tissue(erbb2=AMP, muts={"NRAS": {61: ("p.Q61K", 0.1, None)}})


def p_amp_kras_a146():  # outside KRAS exon 2
    return Profile().tissue(erbb2=AMP, muts={"KRAS": {146: ("p.A146T", 0.2, None)}})


def p_qc_fail():
    return Profile().tissue(erbb2=AMP, qc="fail")


def p_amp_codon_ne():  # KRAS codon 61 not evaluable, the rest wild type
    p = Profile().sample("T", "tumor").cn("T", "tumor", *AMP)
    p.hot("T", "tumor", "KRAS", ne=(61,)).hot("T", "tumor", "NRAS").hot("T", "tumor", "BRAF")
    return p.nrg1("T", "tumor")


def p_amp_codon_missing():  # the hotspot table lacks NRAS 117
    p = Profile().sample("T", "tumor").cn("T", "tumor", *AMP)
    p.hot("T", "tumor", "KRAS").hot("T", "tumor", "NRAS", missing=(117,)).hot("T", "tumor", "BRAF")
    return p.nrg1("T", "tumor")


def p_amp_gene_level():  # hand-written: RAS negative without codon details
    p = Profile().sample("T", "tumor").cn("T", "tumor", *AMP)
    for g in ("KRAS", "NRAS", "BRAF"):
        p.hot("T", "tumor", g, gene_level=True)
    return p.nrg1("T", "tumor")


def p_amp_no_ras_rows():
    return Profile().sample("T", "tumor").cn("T", "tumor", *AMP).nrg1("T", "tumor")


def p_cn_not_evaluable():
    return Profile().tissue(erbb2=("not_evaluable", None))


def p_plasma_amp_subclonal():  # TRIUMPH blood: subclonal KRAS (RC 16%) keeps wild type
    return Profile().plasma(erbb2="amplification", pcn=3.0, apcn=12.0,
                            muts={"KRAS": {12: ("p.G12V", 0.008, 16.0)}, "PIK3CA": {1047: ("p.H1047R", 0.05, 100.0)}})


def p_plasma_amp_clonal():
    return Profile().plasma(erbb2="amplification", pcn=3.0, apcn=12.0, muts={"KRAS": {12: ("p.G12D", 0.05, 100.0)}})


def p_plasma_amp_rc_unknown():  # detected KRAS without VAF or relative clonality
    p = Profile().plasma(erbb2="amplification", pcn=3.0, apcn=12.0)
    p.rows = [r for r in p.rows if r["biomarker"] != "KRAS"]
    return p.hot("L", "plasma", "KRAS", {12: ("p.G12D", None, None)})


def p_plasma_rc_computed():  # RC not reported: engine computes VAF / max VAF = 0.005 / 0.05 = 10%
    p = Profile().plasma(erbb2="amplification", pcn=3.0, apcn=12.0)
    p.rows = [r for r in p.rows if r["biomarker"] not in ("KRAS", "TUMOR_FRACTION")]
    return p.hot("L", "plasma", "KRAS", {12: ("p.G12V", 0.005, None)}).tf("L", "plasma", "positive", 0.1, 0.05)


def p_plasma_no_ctdna():
    return Profile().plasma(erbb2="not_evaluable", f=None, tf_status="negative")


def p_plasma_low_tf_negative():  # stage says negative at f=0.03; the engine's floor is 0.10
    return Profile().plasma(erbb2="neutral", f=0.03)


def p_plasma_only_negative():  # plasma f=0.3, ERBB2 not amplified, RAS wild type
    return Profile().plasma(erbb2="neutral", f=0.3)


def p_tissue_wt_plasma_clonal():  # discordance: tissue RAS WT, clonal KRAS in plasma
    return Profile().tissue(erbb2=AMP).plasma(muts={"KRAS": {12: ("p.G12D", 0.05, 100.0)}})


def p_tissue_wt_plasma_subclonal():
    return Profile().tissue(erbb2=AMP).plasma(muts={"KRAS": {12: ("p.G12V", 0.008, 16.0)},
                                                    "PIK3CA": {1047: ("p.H1047R", 0.05, 100.0)}})


def p_tissue_neg_plasma_amp():  # discordant ERBB2: either sample type may satisfy NCT05193292
    return Profile().tissue(erbb2=("neutral", 2.0)).plasma(erbb2="amplification", pcn=3.5, apcn=20.0, f=0.2)


def p_fusion(**kw):
    fusion = {"partner": "CD74", "egf_domain_retained": True, "frame": "in_frame", "split_reads": 8,
              "discordant_pairs": 3}
    fusion.update(kw)
    return Profile().tissue(nrg1="positive", fusion=fusion)


def p_nrg1_not_covered():
    return Profile().tissue(nrg1="not_evaluable")


def p_default_purity(call, cn, log2):
    p = Profile().sample("T", "tumor").cn("T", "tumor", call, cn, purity_source="default (UNVERIFIED)", log2=log2)
    for g in ("KRAS", "NRAS", "BRAF"):
        p.hot("T", "tumor", g)
    return p.nrg1("T", "tumor")


PROFILES = {
    "amp_wt": (p_amp_wt, {"MOUNTAINEER": "candidate", "MYPATHWAY_HER2": "candidate", "NCT05356897": "candidate",
                          "NCT05193292": "candidate", "HERACLES_A": "candidate", "SWOG_S1613": "candidate",
                          "TRIUMPH_BLOOD": "not_evaluable", "CRESTONE": "screen_negative",
                          "DESTINY_CRC02": "candidate", "HER3_DXD_CRC": "not_assessable"}),
    "amp_kras": (p_amp_kras, {"MOUNTAINEER": "excluded", "HERACLES_A": "excluded", "SWOG_S1613": "excluded",
                              "MYPATHWAY_HER2": "candidate", "NCT05356897": "candidate",
                              "TRIUMPH_BLOOD": "excluded", "DESTINY_CRC02": "candidate"}),
    "gain_wt": (p_gain_wt, {"MOUNTAINEER": "screen_negative", "NCT05356897": "screen_negative",
                            "MYPATHWAY_HER2": "screen_negative", "HERACLES_A": "screen_negative"}),
    "amp_braf": (p_amp_braf, {"SWOG_S1613": "excluded", "DESTINY_CRC01": "excluded", "HERACLES_B": "excluded",
                              "MOUNTAINEER": "candidate", "TRIUMPH_TISSUE": "candidate"}),
    "amp_braf_v600k": (p_amp_braf_v600k, {"SWOG_S1613": "candidate", "DESTINY_CRC01": "candidate"}),
    "amp_nras_q61": (p_amp_nras_q61, {"HERACLES_A": "candidate", "HERACLES_B": "excluded",
                                      "MOUNTAINEER": "excluded"}),
    "amp_kras_a146": (p_amp_kras_a146, {"HERACLES_A": "candidate", "SWOG_S1613": "excluded"}),
    "qc_fail": (p_qc_fail, {"MOUNTAINEER": "not_evaluable", "HERACLES_A": "not_evaluable",
                            "NCT05193292": "not_evaluable", "CRESTONE": "not_evaluable",
                            "DESTINY_CRC02": "not_evaluable"}),
    "codon_not_evaluable": (p_amp_codon_ne, {"MOUNTAINEER": "not_evaluable", "HERACLES_A": "candidate",
                                             "NCT05356897": "candidate"}),
    "codon_missing": (p_amp_codon_missing, {"MOUNTAINEER": "not_evaluable", "HERACLES_A": "candidate"}),
    "gene_level_only": (p_amp_gene_level, {"MOUNTAINEER": "not_evaluable", "HERACLES_A": "not_evaluable",
                                           "MYPATHWAY_HER2": "candidate"}),
    "no_ras_rows": (p_amp_no_ras_rows, {"MOUNTAINEER": "not_evaluable", "SWOG_S1613": "not_evaluable",
                                        "NCT03929666": "candidate"}),
    "cn_not_evaluable": (p_cn_not_evaluable, {"MOUNTAINEER": "not_evaluable", "NCT05356897": "not_evaluable",
                                              "HERACLES_A": "not_evaluable"}),
    "plasma_subclonal": (p_plasma_amp_subclonal, {"TRIUMPH_BLOOD": "candidate", "MOUNTAINEER": "not_evaluable",
                                                  "NCT05193292": "candidate", "HERACLES_A": "not_evaluable"}),
    "plasma_clonal": (p_plasma_amp_clonal, {"TRIUMPH_BLOOD": "excluded", "HERACLES_A": "excluded",
                                            "NCT05193292": "candidate"}),
    "plasma_rc_unknown": (p_plasma_amp_rc_unknown, {"TRIUMPH_BLOOD": "not_evaluable"}),
    "plasma_rc_computed": (p_plasma_rc_computed, {"TRIUMPH_BLOOD": "candidate"}),
    "plasma_no_ctdna": (p_plasma_no_ctdna, {"TRIUMPH_BLOOD": "not_evaluable", "NCT05193292": "not_evaluable"}),
    "plasma_low_tf": (p_plasma_low_tf_negative, {"TRIUMPH_BLOOD": "not_evaluable", "NCT05193292": "not_evaluable"}),
    "plasma_only_negative": (p_plasma_only_negative, {"TRIUMPH_BLOOD": "screen_negative",
                                                      "NCT05193292": "screen_negative",
                                                      "MOUNTAINEER": "not_evaluable"}),
    "discordant_clonal": (p_tissue_wt_plasma_clonal, {"MOUNTAINEER": "excluded", "HERACLES_A": "excluded",
                                                      "MYPATHWAY_HER2": "candidate"}),
    "discordant_subclonal": (p_tissue_wt_plasma_subclonal, {"MOUNTAINEER": "candidate",
                                                            "HERACLES_A": "candidate"}),
    "erbb2_plasma_only": (p_tissue_neg_plasma_amp, {"NCT05193292": "candidate", "MOUNTAINEER": "screen_negative",
                                                    "TRIUMPH_BLOOD": "candidate"}),
    "fusion": (p_fusion, {"CRESTONE": "candidate", "MOUNTAINEER": "screen_negative"}),
    "fusion_no_egf": (lambda: p_fusion(egf_domain_retained=False), {"CRESTONE": "screen_negative"}),
    "fusion_egf_unknown": (lambda: p_fusion(egf_domain_retained=None), {"CRESTONE": "not_evaluable"}),
    "fusion_weak": (lambda: p_fusion(split_reads=1, discordant_pairs=0), {"CRESTONE": "not_evaluable"}),
    "nrg1_not_covered": (p_nrg1_not_covered, {"CRESTONE": "not_evaluable"}),
    # unknown purity: CN 14 at the default purity, 2 * 2^1.7 = 6.5 >= 6 at purity 1 -> amplified whatever the purity
    "default_purity_amp": (lambda: p_default_purity("amplification", 14.0, 1.7),
                           {"NCT05356897": "candidate", "MOUNTAINEER": "candidate"}),
    # CN 7 at the default purity but 2 * 2^0.6 = 3.0 at purity 1: the numeric route cannot decide
    "default_purity_borderline": (lambda: p_default_purity("amplification", 7.0, 0.6),
                                  {"NCT05356897": "candidate", "MOUNTAINEER": "candidate"}),
    "default_purity_neutral": (lambda: p_default_purity("neutral", 2.0, 0.0), {"NCT05356897": "screen_negative"}),
}


@pytest.mark.parametrize("name", list(PROFILES))
def test_profiles_against_trials(name, trial_set, settings, tmp_path):
    build, expected = PROFILES[name]
    got = statuses(build(), trial_set, settings, tmp_path)
    assert set(got) == set(CONTRACT_TRIALS)
    wrong = {t: (got[t].status, s) for t, s in expected.items() if got[t].status != s}
    assert not wrong, {t: (g, e, got[t].reasons) for t, (g, e) in wrong.items()}
    for v in got.values():
        assert v.status in ELIGIBILITY_STATUSES and v.reasons, v.trial.id


def _trial_set_with(tmp_path, mutate):
    doc = yaml.safe_load(DEFAULT_TRIALS.read_text())
    mutate(doc)
    p = tmp_path / "custom_trials.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    return load_trials(p)


def _numeric_3t(doc):
    """3T with its NGS route compared with the configured default CN (value null) instead of the stage's call."""
    routes = _trial_doc(doc, "NCT05356897")["criteria"][0]["any_of"]
    routes[3]["params"] = {"metric": "tissue_cn", "op": ">=", "value": None}


def test_default_purity_numeric_route_is_unknown(trial_set, settings, tmp_path):
    got = statuses(p_default_purity("amplification", 7.0, 0.6), trial_set, settings, tmp_path)
    r = got["NCT05356897"].results
    assert r["gcn6"].value is None                                  # numeric: depends on the unknown purity
    assert r["ngs_amp"].value is True                               # the stage's call is purity-robust
    custom = _trial_set_with(tmp_path, _numeric_3t)
    got = statuses(p_default_purity("amplification", 7.0, 0.6), custom, settings, tmp_path)
    assert got["NCT05356897"].results["ngs_amp"].value is None
    assert got["NCT05356897"].status == "not_evaluable"             # only numeric DNA routes left
    assert any("pathologist purity" in s for s in got["NCT05356897"].next_steps)


def test_copy_number_ci_straddling_a_cut_off_is_unknown(trial_set, settings, tmp_path):
    # P03-like: CN 5.58 called amplified by the stage, CI 4.92-6.46 reaches both sides of 6
    p = Profile().tissue(erbb2=AMP)
    row = next(r for r in p.rows if r["biomarker"] == "ERBB2_CN")
    row.update(value="5.577", details=json.dumps({"call": "amplification", "copy_number": 5.577, "ci_low": 4.924,
                                                  "ci_high": 6.461, "purity": 0.25, "purity_source": "sample_sheet"}))
    got = statuses(p, trial_set, settings, tmp_path)
    r = got["NCT05356897"].results
    assert r["gcn6"].value is None and "straddles > 6" in r["gcn6"].summary
    assert r["ngs_amp"].value is True and got["NCT05356897"].status == "candidate"
    custom = _trial_set_with(tmp_path, _numeric_3t)
    v = statuses(p, custom, settings, tmp_path)["NCT05356897"]
    assert v.status == "not_evaluable"
    assert any("at the cut-off 6" in s for s in v.next_steps)
    # a CI wholly below the cut-off is a confident "not met"
    row.update(details=json.dumps({"call": "gain", "copy_number": 4.0, "ci_low": 3.5, "ci_high": 4.6,
                                   "purity": 0.5, "purity_source": "sample_sheet"}), status="negative", value="4.0")
    assert statuses(p, custom, settings, tmp_path)["NCT05356897"].status == "screen_negative"


def test_every_unknown_path_names_its_cause(trial_set, settings, tmp_path):
    cases = [
        (p_qc_fail, "MOUNTAINEER", "her2_ngs", "failed QC"),
        (p_amp_codon_ne, "MOUNTAINEER", "ras_wt", "KRAS 61 not evaluable"),
        (p_amp_codon_missing, "MOUNTAINEER", "ras_wt", "NRAS 117 missing"),
        (p_amp_gene_level, "MOUNTAINEER", "ras_wt", "without per-codon details"),
        (p_amp_no_ras_rows, "MOUNTAINEER", "ras_wt", "KRAS not reported"),
        (p_cn_not_evaluable, "MOUNTAINEER", "her2_ngs", "ERBB2_CN not evaluable"),
        (p_plasma_no_ctdna, "TRIUMPH_BLOOD", "her2_plasma_amp", "ERBB2_CN not evaluable"),
        (p_plasma_low_tf_negative, "TRIUMPH_BLOOD", "her2_plasma_amp", "ctDNA fraction 0.03 < 0.1"),
        (p_plasma_no_ctdna, "TRIUMPH_BLOOD", "ras_rc", "no tumour DNA detected"),
        (p_plasma_amp_rc_unknown, "TRIUMPH_BLOOD", "ras_rc", "relative clonality unknown"),
        (p_plasma_amp_subclonal, "MOUNTAINEER", "ras_wt", "no tumor sample"),
        (p_nrg1_not_covered, "CRESTONE", "nrg1_fusion_dna", "NRG1 fusion not evaluable"),
        (lambda: p_fusion(egf_domain_retained=None), "CRESTONE", "nrg1_fusion_dna",
         "EGF-like domain retention unknown"),
        (lambda: p_fusion(split_reads=1, discordant_pairs=0), "CRESTONE", "nrg1_fusion_dna", "weak read support"),
    ]  # the unknown-purity path: test_default_purity_numeric_route_is_unknown; CI: test_copy_number_ci_...
    for build, trial, crit, needle in cases:
        v = statuses(build(), trial_set, settings, tmp_path)[trial]
        r = v.results[crit]
        assert r.value is None and r.cause == el.INSUFFICIENT, (trial, crit, r.summary)
        assert needle in r.summary, (needle, r.summary)
        assert v.status != "candidate"
    # the non-DNA unknown
    v = statuses(p_amp_wt(), trial_set, settings, tmp_path)["HERACLES_A"]
    assert v.results["her2_ihc_ish"].value is None and v.results["her2_ihc_ish"].cause == el.NEEDS_NON_DNA


def test_discordance_flagged_and_conservative(trial_set, settings, tmp_path):
    v = statuses(p_tissue_wt_plasma_clonal(), trial_set, settings, tmp_path)["MOUNTAINEER"]
    assert v.status == "excluded"
    text = " | ".join(v.reasons)
    assert "DISCORDANT" in text and "tumor T met" in text and "plasma L not met" in text
    assert any("discordant" in s for s in v.next_steps)
    v = statuses(p_tissue_wt_plasma_subclonal(), trial_set, settings, tmp_path)["MOUNTAINEER"]
    assert v.status == "candidate"
    assert any("relative clonality 16% <= 30%" in r for r in v.reasons)
    v = statuses(p_tissue_neg_plasma_amp(), trial_set, settings, tmp_path)["NCT05193292"]
    assert v.status == "candidate" and any("DISCORDANT" in r for r in v.reasons)


def test_braf_non_listed_variant_goes_to_review(trial_set, settings, tmp_path):
    v = statuses(p_amp_braf_v600k(), trial_set, settings, tmp_path)["SWOG_S1613"]
    assert v.results["braf_v600e"].value is True
    assert any("p.V600K" in s and "clinical review" in s for s in v.next_steps)


def test_reasons_name_value_threshold_and_source(trial_set, settings, tmp_path):
    v = statuses(p_amp_wt(), _trial_set_with(tmp_path, _numeric_3t), settings, tmp_path)["NCT05356897"]
    text = " | ".join(v.reasons)
    assert "ERBB2_CN purity-corrected CN 12 >= 6" in text
    assert "configured default eligibility.erbb2_amplification.tissue_cn_min" in text
    assert "[TWIST]" in text and "UNVERIFIED" in text
    assert any("confirm" in s or "HER2 IHC" in s for s in v.next_steps)
    assert v.row()["unverified_rules"]
    v = statuses(p_fusion(), trial_set, settings, tmp_path)["CRESTONE"]
    assert any("RNA confirmation of NRG1 fusion" in s for s in v.next_steps)
    v = statuses(p_amp_wt(), trial_set, settings, tmp_path)["HERACLES_A"]
    assert any("HERACLES criteria" in s for s in v.next_steps)
    assert any("prior anti-EGFR" in s for s in v.next_steps)


# =============================================================================================
# invariants over random profiles: a candidate never comes from missing data
# =============================================================================================


def _random_profile(rng, pid):
    p = Profile(pid, prefix=True)
    if rng.random() < 0.85:
        erbb2 = rng.choice([AMP, GAIN, ("neutral", 2.0), ("not_evaluable", None), ("amplification", 6.5)])
        muts = {}
        for gene, cods in CODONS.items():
            if rng.random() < 0.2:
                c = rng.choice(cods)
                muts[gene] = {c: (f"p.X{c}Y" if gene != "BRAF" else rng.choice(["p.V600E", "p.V600K"]), 0.2, None)}
        p.sample("T", "tumor", "fail" if rng.random() < 0.1 else "pass")
        p.cn("T", "tumor", *erbb2)
        for g in CODONS:
            p.hot("T", "tumor", g, muts.get(g), ne=(rng.choice(CODONS[g]),) if rng.random() < 0.15 else ())
        p.nrg1("T", "tumor", rng.choice(["negative", "negative", "not_evaluable", "positive"]),
               egf_domain_retained=rng.choice([True, False, None]), split_reads=rng.choice([0, 3, 8]))
    if rng.random() < 0.5:
        f = rng.choice([None, 0.005, 0.03, 0.2])
        p.plasma(f=f, erbb2=rng.choice(["amplification", "neutral", "not_evaluable"]), pcn=3.0, apcn=10.0,
                 tf_status="positive" if f else "negative",
                 muts={"KRAS": {12: ("p.G12D", 0.01, rng.choice([10.0, 90.0, None]))}} if rng.random() < 0.3 else None)
    if not p.qc:
        p.sample("N", "normal")
    return p


def _mask(profile, rng):
    """The same patient with less evidence: some rows turned not_evaluable / dropped."""
    q = copy.deepcopy(profile)
    for r in q.rows:
        if rng.random() < 0.3:
            r["status"], r["value"], r["details"] = "not_evaluable", "", "{}"
    return q


def test_candidate_never_from_unknown_random_cohort(trial_set, settings, tmp_path):
    rng = random.Random(1234)
    profiles = [_random_profile(rng, f"R{i:03d}") for i in range(120)]
    patients = patients_of(*profiles, tmp=tmp_path)
    verdicts = el.evaluate_cohort(patients, trial_set, settings)
    seen = set()
    for v in verdicts:
        seen.add(v.status)
        leaves = list(iter_leaves(v.trial.decision_root))
        if v.status == "candidate":
            for leaf in leaves:
                r = v.results[leaf.id]
                if leaf.is_dna and leaf.role in ("inclusion", "exclusion"):
                    assert r.value is True, (v.patient_id, v.trial.id, leaf.id, r.summary)
            assert any(v.results[l.id].value is True for l in leaves if l.is_dna and l.role == "target")
        if v.status == "excluded":
            assert any(v.results[i].value is False for i in v.decided_by)
    assert seen == set(ELIGIBILITY_STATUSES)  # the random cohort reaches every status


def test_less_evidence_never_creates_a_candidate(trial_set, settings, tmp_path):
    rng = random.Random(99)
    full = [_random_profile(rng, f"M{i:03d}") for i in range(60)]
    masked = [_mask(p, rng) for p in full]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = {(v.patient_id, v.trial.id): v.status
         for v in el.evaluate_cohort(patients_of(*full, tmp=tmp_path / "a"), trial_set, settings)}
    b = {(v.patient_id, v.trial.id): v.status
         for v in el.evaluate_cohort(patients_of(*masked, tmp=tmp_path / "b"), trial_set, settings)}
    for key, status in b.items():
        if status == "candidate":
            # only removing refuting evidence (a cross-check sample, a discordant sample) can do that
            assert a[key] in ("candidate", "excluded"), (key, a[key])


# =============================================================================================
# input checks
# =============================================================================================


def test_biomarkers_table_problems_reported_at_once(tmp_path):
    p = Profile().tissue(erbb2=AMP)
    df = p.frames()[0]
    df.loc[0, "status"] = "amplified"
    df.loc[1, "sample_type"] = "blood"
    df.loc[2, "details"] = '{"codons": {"12": {"status": "detected", "relative_clonality": 160}}}'
    df.loc[3, "details"] = "{not json"
    df = pd.concat([df, df.iloc[[4]]], ignore_index=True)
    write_table(df, tmp_path / "bad.tsv", "biomarkers")
    with pytest.raises(InputError) as exc:
        el.read_biomarkers(tmp_path / "bad.tsv")
    msg = str(exc.value)
    for needle in ("bad.tsv:2: status 'amplified'", "bad.tsv:3: sample_type 'blood'",
                   "relative_clonality: 160 must be a percentage", "bad.tsv:5: details is not valid JSON",
                   "duplicate row for sample T"):
        assert needle in msg, msg


def test_missing_column_is_named(tmp_path):
    df = Profile().tissue().frames()[0].drop(columns=["evidence"])
    df.to_csv(tmp_path / "b.tsv", sep="\t", index=False)
    with pytest.raises(InputError, match="missing column\\(s\\) evidence"):
        el.read_biomarkers(tmp_path / "b.tsv")


def test_qc_fail_overrides_positive_rows(trial_set, settings, tmp_path):
    # a stage that (wrongly) published a positive call for a failed sample is not believed
    got = statuses(p_qc_fail(), trial_set, settings, tmp_path)
    assert got["MYPATHWAY_HER2"].status == "not_evaluable"
    assert "failed QC" in got["MYPATHWAY_HER2"].results["her2_amp_ngs"].summary


# =============================================================================================
# command line, outputs, bundled cohort
# =============================================================================================


def test_cli_on_hand_written_table(tmp_path, capsys):
    """The minimal table a lab could write by hand: no details column, gene-level rows."""
    out = tmp_path / "out"
    rc = el.main(["--biomarkers", str(DATA / "handwritten_biomarkers.tsv"), "--out-dir", str(out)])
    assert rc == 0, capsys.readouterr().err
    table = read_table(out / "eligibility.tsv")
    assert list(table.columns[:5]) == ["patient_id", "trial_id", "status", "reasons", "next_steps"]
    assert len(table) == 3 * len(CONTRACT_TRIALS)
    st = {(r.patient_id, r.trial_id): r.status for r in table.itertuples()}
    # HW1: ERBB2 CN 9 in tissue, KRAS/NRAS/BRAF negative at gene level only
    assert st[("HW1", "MYPATHWAY_HER2")] == "candidate"            # no RAS criterion
    assert st[("HW1", "MOUNTAINEER")] == "not_evaluable"           # codons tested unknown
    # HW2: KRAS p.G12C at gene level -> a known mutation at a listed codon excludes
    assert st[("HW2", "HERACLES_A")] == "excluded"
    assert st[("HW2", "SWOG_S1613")] == "excluded"
    # HW3: NRG1 fusion without details: EGF-like domain unknown
    assert st[("HW3", "CRESTONE")] == "not_evaluable"
    assert (out / "funnel.tsv").exists()
    assert sorted(p.name for p in (out / "patients").iterdir()) == ["HW1.json", "HW2.json", "HW3.json"]
    # trusting gene-level negatives is a configuration choice
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("eligibility:\n  require_codon_detail: false\n")
    out2 = tmp_path / "out2"
    assert el.main(["--biomarkers", str(DATA / "handwritten_biomarkers.tsv"), "--config", str(cfg),
                    "--out-dir", str(out2)]) == 0
    t2 = read_table(out2 / "eligibility.tsv")
    assert t2[(t2.patient_id == "HW1") & (t2.trial_id == "MOUNTAINEER")].status.item() == "candidate"


def test_cli_reports_bad_input(tmp_path, capsys):
    bad = tmp_path / "bad.tsv"
    bad.write_text("patient_id\tsample_id\n")
    assert el.main(["--biomarkers", str(bad), "--out-dir", str(tmp_path / "o")]) == 1
    assert "missing column(s)" in capsys.readouterr().err


def test_cli_via_erbb_screen_entry_point(tmp_path):
    from erbbscreen.cli import main as cli_main
    out = tmp_path / "o"
    assert cli_main(["eligibility", "--biomarkers", str(DATA / "cohort_biomarkers.tsv"), "--qc",
                     str(DATA / "cohort_qc.tsv"), "--out-dir", str(out)]) == 0
    assert (out / "eligibility.tsv").exists()


@pytest.fixture(scope="module")
def cohort_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cohort")
    table = el.run(DATA / "cohort_biomarkers.tsv", DATA / "cohort_qc.tsv", DEFAULT_TRIALS, out / "eligibility.tsv",
                   out / "funnel.tsv", out / "patients")
    return out, table


@pytest.fixture(scope="module")
def expected_hand_written(tmp_path_factory):
    """The expected verdicts of the patients cohort_biomarkers.tsv covers (P01-P11). P12-P14, the purity limit
    cases, rest on biomarker rows that only the purity stage can write (estimated purity, clonal power), so they
    are checked on the real run (test_workflow_eligibility_matches_expected), not by hand here."""
    exp = read_table(EXPECTED)
    covered = set(read_table(DATA / "cohort_biomarkers.tsv").patient_id)
    path = tmp_path_factory.mktemp("expected") / "expected_eligibility.tsv"
    exp[exp.patient_id.isin(covered)].to_csv(path, sep="\t", index=False)
    return path


def test_bundled_cohort_table_matches_expected(cohort_run, expected_hand_written):
    """cohort_biomarkers.tsv is what the stages should publish for tests/cohort/design.yaml (by hand)."""
    _, table = cohort_run
    assert el.compare_to_expected(table, expected_hand_written) == []


def test_expected_table_covers_the_cohort():
    exp = read_table(EXPECTED)
    assert list(exp.columns) == ["patient_id", "trial_id", "expected_status", "why"]
    assert len(exp) == 14 * 17 and not exp.duplicated(["patient_id", "trial_id"]).any()
    assert set(exp.trial_id) == set(CONTRACT_TRIALS)
    assert set(exp.expected_status) <= set(ELIGIBILITY_STATUSES) and all(exp.why.str.len() > 10)
    p09 = exp[exp.patient_id == "P09"]
    assert set(p09.expected_status) == {"not_evaluable", "not_assessable"}
    assert set(exp[exp.expected_status == "candidate"].patient_id) == {"P01", "P02", "P03", "P07", "P08", "P12", "P13"}
    # the flat tumour (purity UNRESOLVED, no amplification) is never a candidate
    assert "candidate" not in set(exp[exp.patient_id == "P14"].expected_status)


def test_compare_to_expected_finds_differences(cohort_run, expected_hand_written, tmp_path):
    _, table = cohort_run
    t = table.copy()
    t.loc[(t.patient_id == "P03") & (t.trial_id == "MOUNTAINEER"), "status"] = "screen_negative"
    t = t[~((t.patient_id == "P11") & (t.trial_id == "CRESTONE"))]
    extra = t.iloc[[0]].copy()
    extra["patient_id"] = "P99"
    t = pd.concat([t, extra])
    problems = el.compare_to_expected(t, expected_hand_written)
    assert len(problems) == 3
    assert any("P03 x MOUNTAINEER: got screen_negative, expected candidate" in p for p in problems)
    assert any("P11 x CRESTONE: missing" in p for p in problems)
    assert any("P99" in p for p in problems)


def test_funnel(cohort_run):
    out, table = cohort_run
    f = read_table(out / "funnel.tsv").set_index("step")
    assert f.loc["screened", "n"] == "11"
    assert f.loc["evaluable", "n"] == "10" and "P09" not in f.loc["evaluable", "patients"]
    assert f.loc["erbb2_amplified", "patients"] == "P01,P02,P03,P07"
    assert f.loc["ras_braf_wild_type", "patients"] == "P01,P03"
    for tid in CONTRACT_TRIALS:
        cands = sorted(table[(table.trial_id == tid) & (table.status == "candidate")].patient_id)
        assert f.loc[f"candidate:{tid}", "n"] == str(len(cands))
        assert f.loc[f"candidate:{tid}", "patients"] == ",".join(cands)


def test_patient_json_trace(cohort_run):
    out, table = cohort_run
    doc = json.loads((out / "patients" / "P01.json").read_text())
    assert doc["patient_id"] == "P01" and len(doc["trials"]) == 17
    assert {s["sample_id"] for s in doc["samples"]} == {"P01-T", "P01-L", "P01-N"}
    t = next(x for x in doc["trials"] if x["trial_id"] == "TRIUMPH_BLOOD")
    assert t["status"] == "candidate" and t["scenarios"]["candidate_test"] == "true"
    ras = next(c for c in t["criteria"] if c["criterion"] == "ras_rc")
    kras12 = next(c for c in ras["findings"][0]["data"]["codons"] if c["gene"] == "KRAS" and c["codon"] == 12)
    assert kras12["status"] == "detected" and kras12["relative_clonality"] == pytest.approx(16.0)
    for trial in doc["trials"]:
        for c in trial["criteria"]:
            if c["value"] == "unknown":
                assert c["unknown_cause"] in (el.NEEDS_NON_DNA, el.INSUFFICIENT)


# =============================================================================================
# the real workflow run (fixture provided by tests/conftest.py when the cohort has been run)
# =============================================================================================


@pytest.fixture
def _workflow_results(request):
    try:
        return request.getfixturevalue("workflow_results")
    except pytest.FixtureLookupError:
        pytest.skip("no workflow_results fixture in tests/conftest.py: the workflow has not been run on the bundled "
                    "cohort in this session")


def _results_dir(obj) -> Path:
    """The run's working directory from the fixture (a path, or an object / dict with 'workdir')."""
    if isinstance(obj, dict):
        obj = obj.get("workdir") or obj.get("path")
    p = Path(getattr(obj, "workdir", obj))
    return p.parent if p.name == "results" else p


@pytest.mark.integration
def test_workflow_eligibility_matches_expected(_workflow_results):
    table_path = _results_dir(_workflow_results) / "results" / "tables" / "eligibility.tsv"
    if not table_path.exists():
        pytest.skip(f"{table_path} not produced")
    problems = el.compare_to_expected(read_table(table_path), EXPECTED)
    assert not problems, "\n".join(problems)


def test_funnel_ras_step_is_conservative(trial_set, settings, tmp_path):
    amp_discordant = Profile("D1", prefix=True).tissue(erbb2=AMP).plasma(muts={"KRAS": {12: ("p.G12D", 0.05, 100.0)}})
    amp_clean = Profile("D2", prefix=True).tissue(erbb2=AMP).plasma()
    patients = patients_of(amp_discordant, amp_clean, tmp=tmp_path)
    verdicts = el.evaluate_cohort(patients, trial_set, settings)
    f = el.funnel(patients, verdicts, trial_set, el.Context(trial_set, settings)).set_index("step")
    assert f.loc["erbb2_amplified", "patients"] == "D1,D2"
    assert f.loc["ras_braf_wild_type", "patients"] == "D2"


def test_germline_like_hotspot_is_neither_mutant_nor_wild_type(trial_set, settings, tmp_path):
    p = Profile().tissue(erbb2=AMP)
    kras = next(r for r in p.rows if r["biomarker"] == "KRAS")
    d = json.loads(kras["details"])
    d["codons"]["12"] = {"status": "detected", "protein_change": "p.G12S", "vaf": 0.48, "germline_like": True}
    kras.update(status="positive", value="p.G12S", details=json.dumps(d))
    v = statuses(p, trial_set, settings, tmp_path)["MOUNTAINEER"]
    assert v.status == "not_evaluable"
    assert "germline-like" in v.results["ras_wt"].summary
    assert any("germline-like KRAS p.G12S" in s for s in v.next_steps)


def _clonal_route_profile(states=(), power=1.0):
    """Tissue ERBB2-amplified, NRAS 12/13 not_evaluable by the LoD-floor power (110x), and the purity stage's clonal
    power for them (TUMOR_FRACTION details.clonal_power, purity 0.58 [0.50-0.66])."""
    p = Profile().tissue(erbb2=AMP)
    nras = next(r for r in p.rows if r["biomarker"] == "NRAS")
    d = json.loads(nras["details"])
    for c in ("12", "13"):
        d["codons"][c] = {"status": "not_evaluable", "depth": 110, "power_at_lod": 0.65,
                          "reason": "depth 110: power 0.65 < 0.8 to detect VAF 0.05 [tumor LOD]"}
    nras.update(status="not_evaluable", details=json.dumps(d))
    tf = next(r for r in p.rows if r["biomarker"] == "TUMOR_FRACTION")
    cp = {c: {"depth": 110, "min_alt": 6, "local_cn": 2.0, "clonal_vaf": 0.25, "power_clonal": power,
              "power_at_lod": 0.65, "status": "not_evaluable"} for c in ("12", "13")}
    tf.update(value="0.58", details=json.dumps({"method": "snp_imbalance+segment_fit", "purity_low": 0.50,
                                                "purity_high": 0.66, "states": list(states),
                                                "clonal_power": {"NRAS": cp}}))
    return p


def test_wild_type_by_clonal_power_at_estimated_purity_carries_a_caveat(trial_set, settings, tmp_path):
    v = statuses(_clonal_route_profile(), trial_set, settings, tmp_path)["MOUNTAINEER"]
    assert v.status == "candidate"
    cav = v.row()["caveats"]
    assert "NRAS 12 in tumor" in cav and "110x" in cav and "power 0.65" in cav and "1.00 for a clonal mutation" in cav
    assert "0.58 [0.50-0.66]" in cav
    # the route is switched off, or the purity is LOW_PURITY / UNRESOLVED, or the clonal power is short: unknown
    off = dict(settings, wild_type_by_clonal_power=False)
    assert statuses(_clonal_route_profile(), trial_set, off, tmp_path)["MOUNTAINEER"].status == "not_evaluable"
    for prof in (_clonal_route_profile(states=["LOW_PURITY"]), _clonal_route_profile(power=0.5)):
        v = statuses(prof, trial_set, settings, tmp_path)["MOUNTAINEER"]
        assert v.status == "not_evaluable" and v.row()["caveats"] == ""
