"""Per-patient page (results/report/patients/<patient>.html): summary, trial table, criteria per trial, evidence
(copy-number region plot, hotspot codons with detection limits, fusion junctions, QC) and provenance."""
from __future__ import annotations

import json
import logging
from collections import Counter

from erbbscreen.report import plots
from erbbscreen.report.criteria import codon_summary, trial_model
from erbbscreen.report.data import RunData, codon_lod, read_bins
from erbbscreen.report.fmt import (ELIGIBILITY_ORDER, ci_text, fixed, fnum, num, one_line, sample_type_label)
from erbbscreen.report.render import asset, provenance_model, render

log = logging.getLogger("erbbscreen.report")

QC_METRICS = ("reads", "mapped_pct", "duplicate_pct", "on_target_pct", "mean_target_depth", "p20_target_depth",
              "median_insert_size")
RAS_BRAF = ("KRAS", "NRAS", "BRAF")


# ---------------------------------------------------------------------------------------------
# summary: one line per biomarker and sample, with the evidence behind a negative
# ---------------------------------------------------------------------------------------------


def _purity_text(run: RunData, sample_id: str, cn_row: dict | None) -> str:
    pur = run.table("purity")
    if not pur.empty and "sample_id" in pur.columns:
        rows = pur[pur["sample_id"] == sample_id]
        if len(rows):
            r = rows.iloc[0].to_dict()
            what = "ctDNA fraction" if r.get("sample_type") == "plasma" else "purity"
            ci = ci_text(r.get("purity_low"), r.get("purity_high"), 2)
            text = f"{what} {fnum(r.get('purity'), 2)}{' ' + ci if ci else ''} {r.get('source') or ''}".strip()
            return text + (f" ({r['states']})" if r.get("states") else "")
    if cn_row and num(cn_row.get("purity")) is not None:
        what = "ctDNA fraction" if cn_row.get("sample_type") == "plasma" else "purity"
        return f"{what} {fnum(cn_row.get('purity'), 2)} {cn_row.get('purity_source') or ''}".strip()
    return ""


def _cn_line(run: RunData, sample: dict, gene: str, bm: dict, cn_row: dict | None) -> dict:
    call = (bm.get("details") or {}).get("call") or (cn_row or {}).get("call") or ""
    status = bm.get("status", "")
    label = f"{sample_type_label(sample['sample_type'])} {sample['sample_id']}"
    head = {"amplification": f"{gene} amplified", "gain": f"{gene} gain (not amplified)",
            "neutral": f"{gene} not amplified", "loss": f"{gene} not amplified (loss)",
            "not_evaluable": f"{gene} not evaluable"}.get(call, f"{gene} {status.replace('_', ' ')}")
    parts = []
    r = cn_row or {}
    if call == "not_evaluable" or status == "not_evaluable":
        parts.append(one_line(r.get("reason") or bm.get("evidence"), 150))
    elif sample["sample_type"] == "plasma":
        parts.append(f"pCN {fnum(r.get('pcn') or r.get('copy_number') or bm.get('value'), 3)} "
                     f"{ci_text(r.get('cn_ci_low'), r.get('cn_ci_high'))}".strip())
        if num(r.get("apcn")) is not None:
            parts.append(f"ApCN {fnum(r.get('apcn'), 3)} {ci_text(r.get('apcn_ci_low'), r.get('apcn_ci_high'))}"
                         .strip())
        elif r.get("apcn_status"):
            parts.append(f"ApCN {r['apcn_status'].replace('_', ' ')}")
    else:
        parts.append(f"CN {fnum(r.get('copy_number') or bm.get('value'), 3)} "
                     f"{ci_text(r.get('cn_ci_low'), r.get('cn_ci_high'))}".strip())
    parts.append(label)
    pt = _purity_text(run, sample["sample_id"], r or None)
    if pt:
        parts.append(pt)
    return {"biomarker": f"{gene}_CN", "status": status, "badge": call or status, "head": head,
            "text": ", ".join(p for p in parts if p)}


def _codon_states(bms: dict, genes) -> list:
    out = []
    for gene in genes:
        codons = ((bms.get(gene) or {}).get("details") or {}).get("codons") or {}
        for codon, d in sorted(codons.items(), key=lambda kv: int(kv[0]) if str(kv[0]).isdigit() else 0):
            if isinstance(d, dict):
                out.append({"gene": gene, "codon": codon, **d})
    return out


def _hotspot_line(sample: dict, bms: dict, genes, name: str) -> dict | None:
    present = [g for g in genes if g in bms]
    if not present:
        return None
    label = f"{sample_type_label(sample['sample_type'])} {sample['sample_id']}"
    codons = _codon_states(bms, present)
    statuses = [bms[g].get("status") for g in present]
    if not codons:  # gene-level rows only
        status = "positive" if "positive" in statuses else ("not_evaluable" if "not_evaluable" in statuses
                                                            else "negative")
        return {"biomarker": name, "status": status, "head": f"{name} {status.replace('_', ' ')}",
                "text": f"{label}; " + "; ".join(one_line(bms[g].get("evidence"), 80) for g in present)}
    detected = [c for c in codons if c.get("status") == "detected"]
    if detected:
        return {"biomarker": name, "status": "positive", "badge": "detected",
                "head": codon_summary(detected) + " detected",
                "text": f"{label}, depth " + ", ".join(str(c.get("depth")) for c in detected)}
    clean = [c for c in codons if c.get("status") == "not_detected"]
    ne = [c for c in codons if c.get("status") != "not_detected"]
    powers = [num(c.get("power")) for c in clean if num(c.get("power")) is not None]
    if not clean:
        return {"biomarker": name, "status": "not_evaluable", "head": f"{name} not evaluable",
                "text": f"{len(ne)} codons not evaluable, {label}: " + one_line(ne[0].get("reason"), 110)}
    text = [f"lowest power {min(powers):.2f}" if powers else "power not reported"]
    depths = [c.get("depth") for c in clean if isinstance(c.get("depth"), (int, float))]
    if depths:
        text.append(f"depth >= {int(min(depths))}")
    text.append(label)
    if ne:
        text.append(f"{len(ne)} codon(s) not evaluable: " + ", ".join(f"{c['gene']} {c['codon']}" for c in ne[:6]))
    status = "not_evaluable" if ne else "negative"
    return {"biomarker": name, "status": status, "badge": "not_evaluable" if ne else "wild type",
            "head": f"{name} wild type at {len(clean)} codons",
            "text": ", ".join(text)}


def _fusion_line(sample: dict, bm: dict) -> dict:
    d = bm.get("details") or {}
    label = f"{sample_type_label(sample['sample_type'])} {sample['sample_id']}"
    status = bm.get("status", "")
    if status == "positive":
        egf = {True: "EGF-like domain kept", False: "EGF-like domain lost"}.get(d.get("egf_domain_retained"),
                                                                             "EGF-like domain unknown")
        text = (f"{egf}, frame {d.get('frame') or 'unknown'}, {fnum(d.get('split_reads'))} split reads / "
                f"{fnum(d.get('discordant_pairs'))} discordant pairs, {label}; DNA-level, RNA confirmation required")
        return {"biomarker": "NRG1_FUSION", "status": status, "badge": "detected",
                "head": f"{bm.get('value') or 'NRG1'} fusion",
                "text": text}
    cov = ""
    if num(d.get("intron_covered_fraction")) is not None:
        cov = (f"NRG1 introns {100 * float(d['intron_covered_fraction']):.0f}% covered"
               + (f", mean depth {fnum(d.get('intron_mean_depth'))}" if d.get("intron_mean_depth") is not None
                  else ""))
    head = "no NRG1 fusion" if status == "negative" else "NRG1 fusion not evaluable"
    text = ", ".join(x for x in (cov or one_line(bm.get("evidence"), 120), label) if x)
    return {"biomarker": "NRG1_FUSION", "status": status, "badge": "not_detected" if status == "negative" else status,
            "head": head, "text": text}


def _tumour_fraction_line(sample: dict, bm: dict) -> dict:
    d = bm.get("details") or {}
    label = f"{sample_type_label(sample['sample_type'])} {sample['sample_id']}"
    what = "ctDNA fraction" if sample["sample_type"] == "plasma" else "tumour fraction"
    if bm.get("status") == "positive":
        head = f"{what} {fnum(bm.get('value'), 2)}"
        text = ", ".join(x for x in (d.get("method") or "", label) if x)
    else:
        head = f"{what} {bm.get('status', '').replace('_', ' ')}"
        text = f"{one_line(bm.get('evidence'), 120)}, {label}"
    return {"biomarker": "TUMOR_FRACTION", "status": bm.get("status", ""), "head": head, "text": text}


def summary_lines(run: RunData, samples: list) -> list:
    """One line per biomarker (and sample): value and the evidence behind a negative."""
    lines = []
    cn = run.table("copy_number")
    for s in samples:
        if s["sample_type"] not in ("tumor", "plasma"):
            continue
        bms = s.get("biomarkers") or {}
        if s.get("qc_status") == "fail":
            lines.append({"biomarker": "QC", "status": "fail",
                          "head": f"{sample_type_label(s['sample_type'])} {s['sample_id']} failed QC",
                          "text": one_line(s.get("qc_reasons"), 160)})
            if all(b.get("status") == "not_evaluable" for b in bms.values()):
                if bms:  # one line instead of the same QC reason on every biomarker
                    lines.append({"biomarker": "ALL", "status": "not_evaluable",
                                  "head": "every biomarker not evaluable",
                                  "text": f"{sample_type_label(s['sample_type'])} {s['sample_id']} (QC fail): "
                                          + ", ".join(sorted(bms))})
                continue
        for gene in ("ERBB2", "ERBB3"):
            bm = bms.get(f"{gene}_CN")
            if bm is None:
                continue
            rows = cn[(cn["sample_id"] == s["sample_id"]) & (cn["gene"] == gene)] if not cn.empty else cn
            lines.append(_cn_line(run, s, gene, bm, rows.iloc[0].to_dict() if len(rows) else None))
        for genes, name in ((RAS_BRAF, "RAS/BRAF"), (("PIK3CA",), "PIK3CA")):
            line = _hotspot_line(s, bms, genes, name)
            if line:
                lines.append(line)
        if "NRG1_FUSION" in bms:
            lines.append(_fusion_line(s, bms["NRG1_FUSION"]))
        if "TUMOR_FRACTION" in bms:
            lines.append(_tumour_fraction_line(s, bms["TUMOR_FRACTION"]))
    return lines


def samples_from_tables(run: RunData, patient_id: str) -> list:
    """The JSON 'samples' shape rebuilt from biomarkers.tsv + qc.tsv (when the evidence trace is missing)."""
    out = {}
    for r in run.rows_of("qc", patient_id).to_dict("records"):
        out[r["sample_id"]] = {"sample_id": r["sample_id"], "sample_type": r["sample_type"],
                               "qc_status": r["status"], "qc_reasons": r.get("reasons", ""), "biomarkers": {}}
    for r in run.rows_of("biomarkers", patient_id).to_dict("records"):
        s = out.setdefault(r["sample_id"], {"sample_id": r["sample_id"], "sample_type": r["sample_type"],
                                            "qc_status": "not_given", "qc_reasons": "", "biomarkers": {}})
        try:
            details = json.loads(r.get("details") or "{}")
        except ValueError:
            details = {}
        s["biomarkers"][r["biomarker"]] = {"status": r["status"], "value": r["value"], "evidence": r["evidence"],
                                           "details": details if isinstance(details, dict) else {}}
    return list(out.values())


# ---------------------------------------------------------------------------------------------
# evidence sections
# ---------------------------------------------------------------------------------------------


def _sample_label(r: dict) -> str:
    return f"{sample_type_label(r.get('sample_type', ''))} {r.get('sample_id', '')}"


def cn_section(run: RunData, patient_id: str) -> list:
    cn = run.rows_of("copy_number", patient_id)
    out = []
    for sid, rows in cn.groupby("sample_id", sort=False) if not cn.empty else []:
        recs = rows.to_dict("records")
        gene_rows = {r["gene"]: r for r in recs}
        files = run.sample_files(sid)
        plot, why = None, ""
        if files.get("cnr"):
            try:
                cnr = read_bins(files["cnr"])
                cns = read_bins(files["cns"]) if files.get("cns") else None
                plot = plots.region_plot(cnr, cns, gene_rows, f"{_sample_label(recs[0])}: CNVkit bins")
                why = "" if plot else "the CNVkit bins file has no bins"
                run.save_figure("copy_number", f"{sid}.png", plot)
            except (OSError, ValueError, KeyError) as exc:
                log.warning("region plot of %s failed: %s", sid, exc)
                why = f"plot failed ({exc})"
        else:
            why = one_line(recs[0].get("reason"), 140) or "no CNVkit bins file"
        genes = []
        for r in recs:
            plasma = r.get("sample_type") == "plasma"
            genes.append({"gene": r["gene"], "call": r.get("call", ""),
                          "cn": (f"pCN {fixed(r.get('pcn') or r.get('copy_number'), 2)}" if plasma
                                 else fixed(r.get("copy_number"), 2)),
                          "ci": ci_text(r.get("cn_ci_low"), r.get("cn_ci_high")) or "-",
                          "log2": fixed(r.get("log2"), 3), "bins": r.get("bins", ""),
                          "purity": fnum(r.get("purity"), 2), "reason": one_line(r.get("reason"), 220)})
        out.append({"sample_id": sid, "label": _sample_label(recs[0]), "plot": plot, "why": why, "genes": genes})
    return out


def hotspot_section(run: RunData, patient_id: str) -> list:
    hs = run.rows_of("hotspots", patient_id)
    lod_cfg = ((run.config.get("hotspots") or {}).get("lod_vaf") or {})
    out = []
    for sid, rows in hs.groupby("sample_id", sort=False) if not hs.empty else []:
        codons = []
        for r in rows.to_dict("records"):
            lod = codon_lod(r.get("depth"), r.get("min_alt_detectable"), run.min_power)
            codons.append({"gene": r["gene"], "codon": r["codon"], "label": f"{r['gene']} {r['codon']}",
                           "status": r["status"], "depth": r.get("depth", ""), "alt": r.get("alt_reads", ""),
                           "vaf": fnum(r.get("vaf"), 3, "-"), "vaf_value": num(r.get("vaf")), "lod_value": lod,
                           "lod": "n/a (detected)" if r["status"] == "detected" else fnum(lod, 2, "-"),
                           "power": fixed(r.get("power"), 2, "-"),
                           "protein_change": r.get("protein_change", ""), "reason": one_line(r.get("reason"), 200)})
        st = rows.iloc[0].get("sample_type", "")
        plot = plots.vaf_lod_plot([{"label": c["label"], "status": c["status"], "vaf": c["vaf_value"],
                                    "lod": c["lod_value"]} for c in codons],
                                  f"{_sample_label(rows.iloc[0].to_dict())}", num(lod_cfg.get(st)))
        run.save_figure("hotspots", f"{sid}.png", plot)
        out.append({"sample_id": sid, "label": _sample_label(rows.iloc[0].to_dict()), "codons": codons,
                    "plot": plot})
    return out


def _gene_models(run: RunData) -> tuple:
    """(exon counts per gene, NRG1 exons coding the EGF-like domain) from the run's annotation, if readable."""
    from erbbscreen.annotation import read_domains, read_transcripts
    from erbbscreen.errors import InputError

    sums = run.provenance.get("checksums") or {}
    counts, egf = {}, set()
    try:
        if sums.get("transcripts"):
            tx = read_transcripts(sums["transcripts"]["path"])
            counts = {g: len(t.exons) for g, t in tx.items()}
            if sums.get("domains") and "NRG1" in tx:
                dom = read_domains(sums["domains"]["path"])
                for d in dom[(dom["gene"] == "NRG1") & dom["domain"].str.contains("EGF")].itertuples():
                    for pos in (d.start, d.end - 1):
                        k = tx["NRG1"].exon_number_at(pos)
                        if k:
                            egf.add(k)
    except (InputError, OSError, KeyError) as exc:
        log.warning("gene models for the fusion diagram not readable: %s", exc)
    return counts, sorted(egf)


def fusion_section(run: RunData, patient_id: str, samples: list) -> tuple:
    fus = run.rows_of("fusions", patient_id)
    diagrams = []
    if not fus.empty:
        counts, egf = _gene_models(run)
        for r in fus.to_dict("records"):
            name = r.get("fusion") or f"{r.get('gene_5p', '')}-{r.get('gene_3p', '')}"
            svg = plots.fusion_svg(r, counts, egf)
            run.save_figure("fusions", f"{r['sample_id']}.{name}.{r.get('event_id') or len(diagrams) + 1}.svg", svg)
            diagrams.append({"label": f"{name} in {_sample_label(r)} ({r.get('partner_status', '')} partner; "
                                      f"{r.get('evidence', 'DNA-level candidate')})", "svg": svg})
    status = []
    for s in samples:
        bm = (s.get("biomarkers") or {}).get("NRG1_FUSION")
        if bm is not None:
            status.append({"status": bm.get("status", ""), "label": _sample_label(s),
                           "text": one_line(bm.get("evidence"), 300)})
    return diagrams, status


def qc_rows(df, metrics) -> list:
    out = []
    for r in df.to_dict("records"):
        out.append({"sample_id": r["sample_id"], "patient_id": r.get("patient_id", ""),
                    "sample_type": sample_type_label(r.get("sample_type", "")), "status": r.get("status", ""),
                    "reasons": r.get("reasons", ""), "metrics": [fnum(r.get(m), 4, "-") for m in metrics]})
    return out


# ---------------------------------------------------------------------------------------------
# page
# ---------------------------------------------------------------------------------------------


def patient_model(run: RunData, patient_id: str) -> dict:
    doc = run.patients.get(patient_id) or {}
    samples = doc.get("samples") or samples_from_tables(run, patient_id)
    elig = run.rows_of("eligibility", patient_id)
    table_rows = {r["trial_id"]: r for r in elig.to_dict("records")} if not elig.empty else {}
    if doc.get("trials"):
        trials = [trial_model(t, table_rows.get(t.get("trial_id"))) for t in doc["trials"]]
    else:  # no evidence trace: status and next steps from the table, criteria unavailable
        trials = [{"id": r["trial_id"], "name": r["trial_id"], "nct": r.get("nct", ""), "drug": "", "target": "",
                   "status": r["status"], "one_line": "no evidence trace (results/eligibility/patients/) for the "
                   "criteria", "decision_rule": "", "next_steps": [r["next_steps"]] if r.get("next_steps") else [],
                   "criteria": [], "informational": [], "decided_by": [], "unverified": [],
                   "caveats": [r["caveats"]] if r.get("caveats") else []} for r in table_rows.values()]
    counts = Counter(t["status"] for t in trials)
    qc = run.rows_of("qc", patient_id)
    metrics = [m for m in QC_METRICS if m in qc.columns]
    pur = run.rows_of("purity", patient_id)
    patient_caveats = []
    if not pur.empty and "states" in pur.columns:
        for r in pur.to_dict("records"):
            if r.get("states"):
                patient_caveats.append(f"{_sample_label(r)}: purity states {r['states']}"
                                       + (f" ({one_line(r.get('reason'), 140)})" if r.get("reason") else ""))
    fusions, fusion_status = fusion_section(run, patient_id, samples)
    return {
        "id": patient_id, "samples": samples, "summary": summary_lines(run, samples),
        "status_counts": [(s, counts[s]) for s in ELIGIBILITY_ORDER if counts.get(s)],
        "patient_caveats": patient_caveats, "trials": trials,
        "cn": cn_section(run, patient_id), "hotspots": hotspot_section(run, patient_id),
        "fusions": fusions, "fusion_status": fusion_status,
        "qc": qc_rows(qc, metrics), "qc_metrics": metrics,
    }


def patient_page(run: RunData, patient_id: str, cohort_href: str = "../report.html") -> str:
    model = patient_model(run, patient_id)
    doc = run.patients.get(patient_id) or {}
    return render("patient.html.j2", title=f"erbb-screen: patient {patient_id}", p=model, cohort_href=cohort_href,
                  prov=provenance_model(run, doc.get("trials")), min_power=f"{run.min_power:g}",
                  problems=run.problems, script=asset("patient.js"))
