"""Concatenate per-sample tables into one published table (thin wrapper over erbbscreen.tables)."""
import sys

from erbbscreen.tables import concat_tables

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake object injected)
concat_tables(list(snakemake.input), snakemake.output[0], snakemake.params.table)  # noqa: F821
