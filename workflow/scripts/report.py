"""Cohort page, per-patient pages, figures and the workbook (thin wrapper; docs/report.md)."""
import logging
import sys
from pathlib import Path

from erbbscreen.report import write_report

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
inp, out = snakemake.input, snakemake.output  # noqa: F821
cnv_dir = Path(inp.cnr[0]).parent.parent if inp.cnr else None
run = write_report(Path(inp.tables[0]).parent, out.html, out.xlsx, patients_json=inp.patients_json,
                   provenance=inp.provenance, cnv_dir=cnv_dir, patients_out=out.patients,
                   patient_ids=snakemake.params.patient_ids, figures_dir=out.figures,  # noqa: F821
                   workers=snakemake.threads)  # noqa: F821
for problem in run.problems:
    logging.warning(problem)
