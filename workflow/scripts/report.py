"""Cohort HTML + XLSX report (thin wrapper)."""
import sys
from pathlib import Path

from erbbscreen.report import write_report

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821
tables_dir = Path(snakemake.input.tables[0]).parent  # noqa: F821
write_report(tables_dir, snakemake.output.html, snakemake.output.xlsx, snakemake.params.plots)  # noqa: F821
