"""Target/antitarget bins for the cohort (thin wrapper over erbbscreen.copynumber.run_bins)."""
import logging
import sys

from erbbscreen.copynumber import cnv_settings, run_bins

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake object injected)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
i = snakemake.input  # noqa: F821
run_bins(i.fasta, snakemake.output.targets, snakemake.output.antitargets,  # noqa: F821
         panel=i.panel or None, transcripts=i.transcripts or None, reference_cnn=i.reference or None,
         settings=cnv_settings(snakemake.params.settings))  # noqa: F821
