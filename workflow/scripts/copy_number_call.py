"""fix + segment + call + gene-level calls + plots for one sample (thin wrapper over run_sample)."""
import logging
import sys

from erbbscreen.copynumber import cnv_settings, run_sample

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake object injected)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
i, o, p = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
run_sample(p.sample, i.qc, i.target, i.antitarget, i.reference, i.choice, dict(o.items()),
           settings=cnv_settings(p.settings), transcripts=i.transcripts or None,
           tumor_fraction_tsv=i.tumor_fraction or None, wgs=p.wgs, processes=snakemake.threads)  # noqa: F821
