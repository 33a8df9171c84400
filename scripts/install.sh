#!/usr/bin/env bash
# Install what erbb-screen needs on Debian 12 (Python 3.11): Debian tools + a pinned virtual environment in .venv.
# Idempotent: skips what is already there. Needs root (or sudo) for the Debian packages.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(samtools bwa bcftools tabix r-base-core r-bioc-dnacopy chromium chromium-driver covtobed-examples freebayes)  # chromium: report browser test; covtobed-examples, freebayes: real reads (tests/test_realreads_panel.py, test_realreads_giab.py)
missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "[install] Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "[install] creating .venv with $($PY --version)"
  $PY -m venv .venv
fi
stamp=.venv/.erbbscreen-requirements
want=$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[install] pip install -r requirements.txt (pinned) and the erbbscreen package"
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -m pip install -q -r requirements.txt 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -m pip install -q --no-deps -e . 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import snakemake, cnvlib, pysam, pandas, erbbscreen" 
  echo "$want" > "$stamp"
fi
echo "[install] ok: $(.venv/bin/snakemake --version | head -1) snakemake, $(samtools --version | head -1)"
