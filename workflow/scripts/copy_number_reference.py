"""Cohort CNVkit reference: cnv.reference > pooled normals > flat (thin wrapper over run_reference)."""
import logging
import sys

from erbbscreen.copynumber import run_reference

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake object injected)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
i, p = snakemake.input, snakemake.params  # noqa: F821
normals = [{"sample_id": s, "target": t, "antitarget": a, "qc": q}
           for s, t, a, q in zip(p.normals, i.normal_targets, i.normal_antitargets, i.normal_qc)]
run_reference(normals, i.targets, i.antitargets, i.fasta, snakemake.output.cnn, snakemake.output.choice,  # noqa: F821
              wgs=p.wgs, user_cnn=i.user_reference or None)
