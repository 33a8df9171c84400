#!/usr/bin/env bash
# Command 2 of 2: the whole test suite: unit tests, snakemake --lint, a dry run, and a full run of the synthetic
# test cohort checked against its recorded truth (tests/test_workflow.py). Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/install.sh
.venv/bin/python tests/cohort/make_cohort.py --out tests/cohort/data
exec .venv/bin/pytest -q -rs "$@" tests
