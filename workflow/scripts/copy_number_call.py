"""Gene-level copy-number calls of the cohort's tumour/plasma samples (thin wrapper over run_calls)."""
import logging
import sys

from erbbscreen.copynumber import cnv_settings, run_calls

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake object injected)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
i, o, p = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
samples = [dict(sample=info, qc=i.qc[k], cnr=i.cnr[k], cns=i.cns[k], tumor_fraction=i.tumor_fraction[k],
                genes=o.genes[k], biomarkers=o.biomarkers[k]) for k, info in enumerate(p.samples)]
run_calls(samples, i.reference, i.choice, o.table, settings=cnv_settings(p.settings),
          transcripts=i.transcripts or None)
