"""Cohort page (results/report/report.html): funnel figure, candidates per trial, a sortable and filterable
patient x trial matrix whose cells link to the patient's criteria, QC overview, links to every patient page."""
from __future__ import annotations

from collections import Counter

from erbbscreen.report import plots
from erbbscreen.report.criteria import trial_model
from erbbscreen.report.data import RunData
from erbbscreen.report.fmt import ELIGIBILITY_ORDER, STATUS_COLOURS, num
from erbbscreen.report.patient import QC_METRICS, qc_rows
from erbbscreen.report.render import asset, provenance_model, render

#: a letter per status inside the matrix cells, so the matrix does not rely on colour alone
STATUS_SYMBOLS = {"candidate": "C", "excluded": "X", "screen_negative": "\u2013", "not_evaluable": "?",
                  "not_assessable": "A"}
FUNNEL_COLOURS = {"screened": "#546e7a", "evaluable": "#78909c", "erbb2_amplified": "#b2182b",
                  "ras_braf_wild_type": "#1b7837"}


def _trial_info(run: RunData) -> dict:
    """trial_id -> name, drug (from the evidence traces; the table has ids only)."""
    info = {}
    for doc in run.patients.values():
        for t in doc.get("trials") or []:
            info.setdefault(t["trial_id"], {"name": t.get("name") or t["trial_id"], "drug": t.get("drug") or ""})
    return info


def funnel_model(run: RunData) -> tuple:
    f = run.table("funnel")
    if f.empty:
        return "", []
    rows = f.to_dict("records")
    n_by_step = {r["step"]: int(num(r["n"]) or 0) for r in rows}
    main = [r for r in rows if not r["step"].startswith("candidate:")]
    bars = [(r["step"].replace("_", " "), n_by_step[r["step"]], n_by_step.get(r.get("of") or ""),
             FUNNEL_COLOURS.get(r["step"], "#607d8b")) for r in main]
    # patients that are candidates for at least one trial (the per-trial counts are in the next table)
    any_candidate = {p for r in rows if r["step"].startswith("candidate:") for p in str(r.get("patients") or "")
                     .split(",") if p}
    if any(r["step"].startswith("candidate:") for r in rows):
        bars.append(("candidate for >= 1 trial", len(any_candidate), n_by_step.get("screened"),
                     STATUS_COLOURS["candidate"]))
    table = [{"step": r["step"], "n": r["n"], "definition": r.get("definition", "")} for r in main]
    return plots.funnel_svg(bars), table


def cohort_model(run: RunData) -> dict:
    elig = run.table("eligibility")
    qc = run.table("qc")
    info = _trial_info(run)
    trial_ids = list(dict.fromkeys(elig["trial_id"])) if not elig.empty else []
    patients = run.patient_ids()
    one_lines = {}
    for pid, doc in run.patients.items():
        for t in doc.get("trials") or []:
            one_lines[(pid, t["trial_id"])] = trial_model(t)["one_line"]
    cells = {(r["patient_id"], r["trial_id"]): r["status"] for r in elig.to_dict("records")} if not elig.empty \
        else {}
    matrix = []
    for pid in patients:
        row_cells = []
        for tid in trial_ids:
            st = cells.get((pid, tid))
            row_cells.append({"trial": tid, "status": st, "one_line": one_lines.get((pid, tid), "")} if st else None)
        counts = Counter(c["status"] for c in row_cells if c)
        matrix.append({"patient": pid, "cells": row_cells, "n_candidate": counts.get("candidate", 0),
                       "counts": [(s, counts[s]) for s in ELIGIBILITY_ORDER if counts.get(s)]})
    trials = []
    for tid in trial_ids:
        sub = elig[elig["trial_id"] == tid]
        counts = Counter(sub["status"])
        trials.append({"id": tid, "name": info.get(tid, {}).get("name", tid), "drug": info.get(tid, {}).get("drug", ""),
                       "candidates": list(sub.loc[sub["status"] == "candidate", "patient_id"]),
                       "n_candidates": counts.get("candidate", 0),
                       "counts": [(s, counts[s]) for s in ELIGIBILITY_ORDER if counts.get(s)]})
    funnel_svg, funnel = funnel_model(run)
    run.save_figure("cohort", "funnel.svg", funnel_svg)
    metrics = [m for m in QC_METRICS if m in qc.columns]
    qc_counts = Counter(qc["status"]) if not qc.empty else Counter()
    return {
        "n_patients": len(patients), "n_samples": len(qc), "n_qc_fail": qc_counts.get("fail", 0),
        "n_candidate_pairs": int((elig["status"] == "candidate").sum()) if not elig.empty else 0,
        "n_trials": len(trial_ids), "trials": trials, "matrix": matrix, "funnel_svg": funnel_svg,
        "funnel": funnel, "qc": qc_rows(qc, metrics), "qc_metrics": metrics,
        "qc_counts": sorted(qc_counts.items()),
    }


def cohort_page(run: RunData, title: str = "erbb-screen cohort report") -> str:
    trials = [t for doc in run.patients.values() for t in (doc.get("trials") or [])]
    return render("cohort.html.j2", title=title, c=cohort_model(run), prov=provenance_model(run, trials),
                  symbols=STATUS_SYMBOLS,
                  script=asset("report.js"), problems=run.problems)
