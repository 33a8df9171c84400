"""Reports of a run (docs/report.md): a cohort page, one self-contained page per patient and one workbook.

Modules, one per page or step:

* :mod:`~erbbscreen.report.data`: loads the result tables, the eligibility engine's per-patient evidence traces,
  provenance and CNVkit bins;
* :mod:`~erbbscreen.report.criteria`: the page model of a verdict, from the structured criteria (never from the
  ``reasons`` strings);
* :mod:`~erbbscreen.report.plots`: inline figures (region plot, VAF vs detection limit, fusion junction, funnel);
* :mod:`~erbbscreen.report.patient`, :mod:`~erbbscreen.report.cohort`: the two pages;
* :mod:`~erbbscreen.report.xlsx`: the workbook;
* :mod:`~erbbscreen.report.render`: Jinja2 templates (``templates/``) with CSS/JS inlined.

Pages open offline from a file: no network, every figure, style and script inside the HTML.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from erbbscreen.report.cohort import cohort_page
from erbbscreen.report.data import RunData, load_run
from erbbscreen.report.patient import patient_page
from erbbscreen.report.xlsx import write_xlsx

__all__ = ["load_run", "write_report", "write_pages", "main"]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_pages(run: RunData, html_out, patients_dir=None, patient_ids=None) -> list:
    """Cohort page at ``html_out`` and one page per patient in ``patients_dir`` (default: beside it,
    ``patients/``); returns the patient page paths. ``patient_ids`` fixes the set (e.g. the workflow's
    patients), so a page exists for every patient even when a table lacks them."""
    html_out = Path(html_out)
    patients_dir = Path(patients_dir) if patients_dir else html_out.parent / "patients"
    rel = os.path.relpath(html_out.resolve(), patients_dir.resolve())
    ids = list(patient_ids) if patient_ids is not None else run.patient_ids()
    paths = []
    for pid in ids:
        out = patients_dir / f"{pid}.html"
        _write(out, patient_page(run, pid, cohort_href=str(rel)))
        paths.append(out)
    _write(html_out, cohort_page(run))
    return paths


def write_report(tables_dir, html_out, xlsx_out, patients_json=None, provenance=None, cnv_dir=None,
                 patients_out=None, patient_ids=None, figures_dir=None) -> RunData:
    """Build every report output from a run's files (see the module docstring); ``figures_dir``: also write
    each figure as a file there (copy_number/, hotspots/, fusions/, cohort/)."""
    run = load_run(tables_dir, patients_json, provenance, cnv_dir)
    if figures_dir:
        run.figures_dir = Path(figures_dir)
        run.figures_dir.mkdir(parents=True, exist_ok=True)
    write_pages(run, html_out, patients_out, patient_ids)
    Path(xlsx_out).parent.mkdir(parents=True, exist_ok=True)
    write_xlsx(run, xlsx_out)
    return run


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="erbb-screen report",
        description="Cohort page, one page per patient and an XLSX workbook from a run's results folder.")
    ap.add_argument("--results", default="results",
                    help="a run's results/ folder (tables/, eligibility/patients/, copy_number/, provenance.json)")
    ap.add_argument("--tables", help="folder with the result tables (default RESULTS/tables)")
    ap.add_argument("--out-dir", help="where to write report.html, patients/ and erbb-screen.xlsx "
                                      "(default RESULTS/report)")
    args = ap.parse_args(argv)
    results = Path(args.results)
    tables = Path(args.tables) if args.tables else results / "tables"
    if not (tables / "qc.tsv").exists() and not (tables / "eligibility.tsv").exists():
        print(f"{tables}: no qc.tsv or eligibility.tsv found; fix: point --results at a run's results/ folder "
              "(or --tables at its tables/)", file=sys.stderr)
        return 2
    out = Path(args.out_dir) if args.out_dir else results / "report"
    run = write_report(tables, out / "report.html", out / "erbb-screen.xlsx", results / "eligibility" / "patients",
                       results / "provenance.json", results / "copy_number")
    for p in run.problems:
        print(f"warning: {p}", file=sys.stderr)
    print(f"wrote {out / 'report.html'}, {len(run.patient_ids())} patient pages in {out / 'patients'} and "
          f"{out / 'erbb-screen.xlsx'}")
    return 0
