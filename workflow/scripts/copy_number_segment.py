"""fix + segment + call + plots of one sample (thin wrapper over erbbscreen.copynumber.run_segment)."""
import logging
import sys

from erbbscreen.copynumber import cnv_settings, run_segment

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake object injected)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
i, o, p = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
run_segment(p.sample, i.qc, i.target, i.antitarget, i.reference, i.choice, dict(o.items()),
            settings=cnv_settings(p.settings), wgs=p.wgs, processes=snakemake.threads,  # noqa: F821
            transcripts=i.transcripts or None)
