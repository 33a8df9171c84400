"""Target + antitarget coverage of one sample (thin wrapper over erbbscreen.copynumber.run_coverage)."""
import logging
import sys

from erbbscreen.copynumber import cnv_settings, run_coverage

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake object injected)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
i, o = snakemake.input, snakemake.output  # noqa: F821
run_coverage(i.aln, i.qc, i.targets, i.antitargets, o.target, o.antitarget, fasta=i.fasta,
             settings=cnv_settings(snakemake.params.settings), processes=snakemake.threads)  # noqa: F821
