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

Pages open offline from a file: no network, every figure, style and script inside the HTML. The patient pages
and the workbook render in parallel in forked worker processes when ``workers`` > 1 (docs/report.md).
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
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


# ---------------------------------------------------------------------------------------------
# workers: patient pages (and the workbook) are independent of each other, so they render in a pool of
# forked processes; the run data reach the workers by fork (module global), never pickled
# ---------------------------------------------------------------------------------------------

_RUN: RunData | None = None  # the run the forked workers render from


def _patient_task(patient_id: str, out: Path, cohort_href: str) -> Path:
    _write(out, patient_page(_RUN, patient_id, cohort_href=cohort_href))
    return out


def _xlsx_task(out: Path) -> list:
    return write_xlsx(_RUN, out)


class _InProcess:
    """The pool interface for one worker: each task runs at submission, so a failing page raises at once."""

    def submit(self, fn, *args):
        done = Future()
        done.set_result(fn(*args))
        return done

    def shutdown(self, wait=True, cancel_futures=False):
        pass


@contextmanager
def _pool(run: RunData, workers: int):
    """``workers`` > 1 (and fork available): a process pool of that many forked workers; else in-process.

    On the way out a failed task cancels the tasks not yet started; its exception reaches the caller through
    ``Future.result()`` (with the worker's traceback), so a page that fails still fails the report."""
    global _RUN
    _RUN = run
    if workers <= 1 or "fork" not in mp.get_all_start_methods():
        pool = _InProcess()
    else:
        for stream in (sys.stdout, sys.stderr):  # what is buffered now would be written again by each worker
            stream.flush()
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork"))
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    else:
        pool.shutdown(wait=True)
    finally:
        _RUN = None


def _render_pages(pool, run: RunData, html_out, patients_dir=None, patient_ids=None) -> list:
    """Submit the patient pages to ``pool``, write the cohort page meanwhile; returns the pages' futures."""
    html_out = Path(html_out)
    patients_dir = Path(patients_dir) if patients_dir else html_out.parent / "patients"
    rel = str(os.path.relpath(html_out.resolve(), patients_dir.resolve()))
    ids = list(patient_ids) if patient_ids is not None else run.patient_ids()
    pages = [pool.submit(_patient_task, pid, patients_dir / f"{pid}.html", rel) for pid in ids]
    _write(html_out, cohort_page(run))
    return pages


def write_pages(run: RunData, html_out, patients_dir=None, patient_ids=None, workers: int = 1) -> list:
    """Cohort page at ``html_out`` and one page per patient in ``patients_dir`` (default: beside it,
    ``patients/``); returns the patient page paths. ``patient_ids`` fixes the set (e.g. the workflow's
    patients), so a page exists for every patient even when a table lacks them. ``workers`` > 1: the patient
    pages render in that many processes (the same pages; paths in ``patient_ids`` order)."""
    with _pool(run, workers) as pool:
        return [page.result() for page in _render_pages(pool, run, html_out, patients_dir, patient_ids)]


def write_report(tables_dir, html_out, xlsx_out, patients_json=None, provenance=None, cnv_dir=None,
                 patients_out=None, patient_ids=None, figures_dir=None, workers: int = 1) -> RunData:
    """Build every report output from a run's files (see the module docstring); ``figures_dir``: also write
    each figure as a file there (copy_number/, hotspots/, fusions/, cohort/). ``workers`` > 1: the workbook and
    the patient pages render in that many processes while this one writes the cohort page."""
    run = load_run(tables_dir, patients_json, provenance, cnv_dir)
    if figures_dir:
        run.figures_dir = Path(figures_dir)
        run.figures_dir.mkdir(parents=True, exist_ok=True)
    Path(xlsx_out).parent.mkdir(parents=True, exist_ok=True)
    with _pool(run, workers) as pool:
        workbook = pool.submit(_xlsx_task, Path(xlsx_out))  # the longest task first
        for task in [*_render_pages(pool, run, html_out, patients_out, patient_ids), workbook]:
            task.result()
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
    ap.add_argument("--threads", type=int, default=1,
                    help="processes rendering the patient pages and the workbook in parallel (default 1)")
    args = ap.parse_args(argv)
    if args.threads < 1:
        print(f"--threads {args.threads}: fix: give 1 or more", file=sys.stderr)
        return 2
    results = Path(args.results)
    tables = Path(args.tables) if args.tables else results / "tables"
    if not (tables / "qc.tsv").exists() and not (tables / "eligibility.tsv").exists():
        print(f"{tables}: no qc.tsv or eligibility.tsv found; fix: point --results at a run's results/ folder "
              "(or --tables at its tables/)", file=sys.stderr)
        return 2
    out = Path(args.out_dir) if args.out_dir else results / "report"
    run = write_report(tables, out / "report.html", out / "erbb-screen.xlsx", results / "eligibility" / "patients",
                       results / "provenance.json", results / "copy_number", workers=args.threads)
    for p in run.problems:
        print(f"warning: {p}", file=sys.stderr)
    print(f"wrote {out / 'report.html'}, {len(run.patient_ids())} patient pages in {out / 'patients'} and "
          f"{out / 'erbb-screen.xlsx'}")
    return 0
