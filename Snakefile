# erbb-screen: screen cancer cohorts for HER2/HER3-targeted trials from aligned reads.
# Stages: preflight/QC -> hotspots -> copy-number segments -> purity -> gene copy number | NRG1 fusions -> biomarkers -> eligibility -> report.
# Usage: README.md. Configuration: config/config.yaml (validated against workflow/schemas/).
from snakemake.utils import min_version

min_version("9.0")


include: "workflow/rules/common.smk"
include: "workflow/rules/preflight.smk"
include: "workflow/rules/hotspots.smk"
include: "workflow/rules/copy_number.smk"
include: "workflow/rules/purity.smk"
include: "workflow/rules/fusions.smk"
include: "workflow/rules/import.smk"
include: "workflow/rules/eligibility.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
