#!/usr/bin/env bash
# Command 1 of 2: install everything erbb-screen needs, then run the workflow end to end on the bundled,
# SYNTHETIC test cohort (tests/cohort/). Results land in ./results/.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/install.sh
.venv/bin/python tests/cohort/make_cohort.py --out tests/cohort/data
.venv/bin/snakemake --cores "$(nproc)"
echo
echo "Done. Results of the synthetic test cohort:"
echo "  $(pwd)/results/tables/        (qc, copy_number, hotspots, fusions, biomarkers, eligibility, funnel .tsv)"
echo "  $(pwd)/results/report/        (report.html, erbb-screen.xlsx)"
echo "  $(pwd)/results/provenance.json"
