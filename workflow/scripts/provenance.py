"""Write results/provenance.json (thin wrapper)."""
import json
import sys

from erbbscreen.provenance import write_provenance

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821
with open(snakemake.input.cnv_reference) as fh:  # noqa: F821
    cnv_reference = json.load(fh)
write_provenance(snakemake.output[0], snakemake.params.config, snakemake.params.files,  # noqa: F821
                 extra={"cnv_reference": cnv_reference}, workflow_dir=snakemake.params.workflow_dir)  # noqa: F821
