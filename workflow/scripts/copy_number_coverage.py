"""Target + antitarget coverage of one sample (thin wrapper over erbbscreen.copynumber.run_coverage)."""
import logging
import os
import sys

from erbbscreen.copynumber import cnv_settings, run_coverage
from erbbscreen.guard import run_or_not_evaluable

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake object injected)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
i, o = snakemake.input, snakemake.output  # noqa: F821
run_or_not_evaluable("cnv_coverage", i.qc, os.path.dirname(o.target), lambda qc: run_coverage(
    i.aln, qc, i.targets, i.antitargets, o.target, o.antitarget, fasta=i.fasta,
    settings=cnv_settings(snakemake.params.settings), processes=snakemake.threads))  # noqa: F821
