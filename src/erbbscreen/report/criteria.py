"""Page model of a patient's verdicts, built from the structured evidence trace of the eligibility engine
(results/eligibility/patients/<patient>.json, docs/eligibility.md): criteria, findings per sample and their data.

Nothing here parses the ``reasons`` strings of eligibility.tsv: every cell comes from a structured field
(criterion value and cause, finding data, threshold, samples, sources, verification), so a change in the wording
of the reasons cannot change what the report shows.
"""
from __future__ import annotations

from erbbscreen.report.fmt import ci_text, fnum, one_line, sample_type_label, state_word, verified_label

CN_KINDS = ("erbb2_amplification", "erbb3")
WILD_TYPE_KINDS = ("ras_status", "braf_status")
METRIC_WORD = {"tissue_cn": "CN", "plasma_pcn": "pCN", "plasma_apcn": "ApCN", "call": None}


# ---------------------------------------------------------------------------------------------
# observed value of one finding (one sample's answer to one criterion)
# ---------------------------------------------------------------------------------------------


def _cn_observed(d: dict, sample_type: str) -> str:
    metric = d.get("metric") or "call"
    word = METRIC_WORD.get(metric) or ("pCN" if sample_type == "plasma" else "CN")
    value = d.get("measured") if d.get("measured") is not None else d.get("value")
    parts = [f"{word} {fnum(value, 3)}"]
    ci = ci_text(d.get("ci_low"), d.get("ci_high"))
    if ci:
        parts.append(ci)
    if d.get("call"):
        parts.append(f"({d['call']})")
    if d.get("purity_source") and metric == "tissue_cn":
        parts.append(f"purity {fnum(d.get('purity'), 2)} {d['purity_source']}")
    if d.get("cn_at_purity_1") is not None:
        parts.append(f"CN at purity 1: {fnum(d['cn_at_purity_1'], 3)}")
    return " ".join(parts)


def codon_summary(codons: list) -> str:
    """'KRAS p.G12D VAF 0.21' for detected codons, else 'wild type at 16 codons; 2 not evaluable (NRAS 61,146)'."""
    detected = [c for c in codons if c.get("status") == "detected"]
    if detected:
        out = []
        for c in detected:
            text = f"{c.get('gene', '')} {c.get('protein_change') or 'codon ' + str(c.get('codon'))}"
            if c.get("vaf") is not None:
                text += f" VAF {fnum(c['vaf'], 2)}"
            if c.get("relative_clonality") is not None:
                text += f" (relative clonality {float(c['relative_clonality']):.0f}%)"
            if c.get("germline_like"):
                text += " germline-like"
            out.append(text)
        return "; ".join(out)
    clean = [c for c in codons if c.get("status") == "not_detected"]
    other = [c for c in codons if c.get("status") not in ("not_detected", "detected")]
    text = f"wild type at {len(clean)} codon{'s' if len(clean) != 1 else ''}"
    depths = [c.get("depth") for c in clean if isinstance(c.get("depth"), (int, float))]
    if depths:
        text += f" (depth >= {int(min(depths))})"
    if other:
        by_gene = {}
        for c in other:
            by_gene.setdefault(c.get("gene", ""), []).append(str(c.get("codon")))
        listed = "; ".join(f"{g} {','.join(v)}" for g, v in by_gene.items())
        text += f"; {len(other)} not evaluable ({listed})"
    return text


def _fusion_observed(d: dict) -> str:
    status = d.get("status")
    if status == "negative":
        return "no NRG1 fusion detected"
    if status == "not_evaluable":
        return "NRG1 fusion not evaluable"
    egf = d.get("egf_domain_retained")
    egf_text = {True: "kept", False: "lost"}.get(egf, str(egf) if egf not in (None, "") else "unknown")
    return (f"{d.get('value') or 'NRG1 fusion'}: EGF-like domain {egf_text}, frame {d.get('frame') or 'unknown'}, "
            f"split reads {fnum(d.get('split_reads'))}, discordant pairs {fnum(d.get('discordant_pairs'))}")


def finding_observed(kind: str, finding: dict) -> str:
    """One line: what this sample showed for this criterion, from the finding's structured data."""
    d = finding.get("data") or {}
    if not d:  # QC failure, missing row or missing sample: the finding's own one-line sentence
        return one_line(finding.get("text"), 160)
    if kind in CN_KINDS:
        return _cn_observed(d, finding.get("sample_type", ""))
    if kind in WILD_TYPE_KINDS:
        return codon_summary(d.get("codons") or [])
    if kind == "nrg1_fusion":
        return _fusion_observed(d)
    if kind == "co_alteration":
        parts = []
        if d.get("present"):
            parts.append("present: " + ", ".join(d["present"]))
        if d.get("unknown"):
            parts.append("unknown: " + ", ".join(d["unknown"]))
        if not parts:
            parts.append("none of " + ", ".join(d.get("absent") or []))
        return "; ".join(parts)
    return one_line(finding.get("text"), 160)


# ---------------------------------------------------------------------------------------------
# criteria of one trial
# ---------------------------------------------------------------------------------------------


def criterion_row(c: dict) -> dict:
    """Display fields of one criterion (met / not met / unknown, observed per sample, threshold, ...)."""
    state = state_word(c.get("value"), c.get("unknown_cause"))
    observed = []
    for f in c.get("findings") or []:
        observed.append({
            "sample_id": f.get("sample_id"), "sample_type": sample_type_label(f.get("sample_type", "")),
            "use": f.get("use"), "state": state_word(f.get("value")), "text": finding_observed(c.get("kind"), f)})
    if not observed:
        if c.get("unknown_cause") == "needs_non_dna_test":
            by = c.get("evaluable_by") or "non-DNA test"
            observed.append({"sample_id": "", "sample_type": "", "use": "", "state": "pending",
                             "text": f"not measurable by DNA ({by})"})
        else:  # a DNA criterion no sample could answer: the patient has none of the sample types it reads
            wanted = " or ".join(sample_type_label(t) for t in c.get("samples") or []) or "suitable"
            observed.append({"sample_id": "", "sample_type": "", "use": "", "state": state,
                             "text": f"no {wanted} sample for this patient"})
    samples = list(c.get("samples") or [])
    cross = list(c.get("crosscheck") or [])
    caveats = list(dict.fromkeys((c.get("notes") or []) + (c.get("review") or []) + (c.get("caveats") or [])))
    return {
        "id": c.get("criterion"), "label": c.get("label") or c.get("criterion"), "kind": c.get("kind"),
        "role": c.get("role"), "state": state,
        "cause": {"needs_non_dna_test": "needs a non-DNA test",
                  "insufficient_evidence": "insufficient DNA evidence"}.get(c.get("unknown_cause") or "", ""),
        "observed": observed,
        "threshold": c.get("threshold") or c.get("rule") or "",
        "samples": " + ".join(sample_type_label(s) for s in samples)
                   + (f"; cross-check {' + '.join(sample_type_label(s) for s in cross)}" if cross else ""),
        "sources": "; ".join(c.get("sources") or []),
        "verified": verified_label(c.get("verified")),
        "caveats": caveats,
        "remedies": list(c.get("remedies") or []),
        "dna": c.get("evaluable_by") == "dna",
    }


def trial_caveats(trial: dict, table_caveats: str = "") -> list:
    """Caveats of a verdict: the engine's list when it is not empty, else the eligibility.tsv cell (one line)."""
    cav = trial.get("caveats")
    if isinstance(cav, list) and cav:
        return [str(c) for c in cav if c]
    if isinstance(cav, str) and cav.strip():
        return [cav.strip()]
    return [table_caveats.strip()] if table_caveats and table_caveats.strip() else []


def trial_one_line(trial: dict, rows: list) -> str:
    """The verdict in one line, from the deciding criteria and their observed values."""
    by_id = {r["id"]: r for r in rows}
    deciders = [by_id[i] for i in trial.get("decided_by") or [] if i in by_id]

    def described(r):
        obs = "; ".join(o["text"] for o in r["observed"] if o["text"])
        return f"{r['label']} ({one_line(obs, 90)})" if obs else r["label"]

    status = trial.get("status")
    non_dna_targets = [r["label"] for r in rows if r["role"] == "target" and not r["dna"]]
    if status == "candidate":
        text = "DNA supports: " + "; ".join([described(r) for r in deciders[:1]] + [r["label"] for r in deciders[1:]])
    elif status == "excluded":
        text = "Not met: " + ", ".join(described(r) for r in deciders[:1])
    elif status == "screen_negative":
        text = "Target not found by DNA: " + ", ".join(described(r) for r in deciders[:1])
        if non_dna_targets:
            text += "; non-DNA route remains"
    elif status == "not_evaluable":
        text = "Missing DNA evidence: " + ", ".join(described(r) for r in deciders[:1]) if deciders else \
            "Missing DNA evidence"
    else:
        text = "Selects on non-DNA criteria: " + ", ".join(non_dna_targets[:2])
    return one_line(text, 200)


def trial_model(trial: dict, table_row: dict | None = None) -> dict:
    """Everything the pages show for one patient x trial."""
    rows = [criterion_row(c) for c in trial.get("criteria") or []]
    decision = [r for r in rows if r["role"] != "informational"]
    info = [r for r in rows if r["role"] == "informational"]
    table_row = table_row or {}
    unverified = [r for r in rows if r["verified"] != "verified" and r["id"] in (trial.get("decided_by") or [])]
    return {
        "id": trial.get("trial_id"), "name": trial.get("name") or trial.get("trial_id"),
        "nct": trial.get("nct") or trial.get("registry") or "", "drug": trial.get("drug") or "",
        "target": trial.get("target") or "", "status": trial.get("status"),
        "one_line": trial_one_line(trial, rows), "decision_rule": trial.get("decision_rule") or "",
        "next_steps": list(trial.get("next_steps") or []), "criteria": decision, "informational": info,
        "decided_by": list(trial.get("decided_by") or []),
        "caveats": trial_caveats(trial, str(table_row.get("caveats", "") or "")),
        "unverified": [f"{r['label']} ({r['verified']})" for r in unverified],
    }
