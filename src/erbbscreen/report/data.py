"""Everything the report reads, loaded once: the published tables, the per-patient evidence traces of the
eligibility engine, provenance and the per-sample CNVkit bins.

The report computes nothing that decides anything: it reads what the stages wrote. The one derived number is a
hotspot codon's detection limit (:func:`codon_lod`), the VAF at which the genotyper's own test reaches its
configured power, computed from the depth and the alt-fragment count the genotyper required.
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from erbbscreen.tables import read_table

log = logging.getLogger("erbbscreen.report")

#: result tables shown and exported, in workbook order (purity.tsv only when the purity stage wrote it)
TABLES = ("eligibility", "funnel", "biomarkers", "copy_number", "hotspots", "fusions", "qc", "purity")
#: default hotspot power (config hotspots.min_power; docs/hotspots.md) when provenance does not give the config
DEFAULT_MIN_POWER = 0.8


@dataclass
class RunData:
    tables: dict
    patients: dict  # patient_id -> evidence trace (results/eligibility/patients/<patient>.json)
    provenance: dict
    cnv_dir: Path | None
    problems: list = field(default_factory=list)  # inputs that could not be read (shown on the pages)
    figures_dir: Path | None = None  # when set, every figure is also written there as a file

    def save_figure(self, kind: str, name: str, figure: str | None) -> None:
        """Write a figure (PNG data URI or SVG markup) to FIGURES_DIR/<kind>/<name> (for `snakemake --report`)."""
        if not figure or self.figures_dir is None:
            return
        out = self.figures_dir / kind / name
        out.parent.mkdir(parents=True, exist_ok=True)
        if figure.startswith("data:image/png;base64,"):
            out.write_bytes(base64.b64decode(figure.split(",", 1)[1]))
        else:
            out.write_text(figure)

    def table(self, name: str) -> pd.DataFrame:
        return self.tables.get(name, pd.DataFrame())

    def rows_of(self, name: str, patient_id: str) -> pd.DataFrame:
        df = self.table(name)
        if df.empty or "patient_id" not in df.columns:
            return df.iloc[0:0] if not df.empty else df
        return df[df["patient_id"] == patient_id]

    @property
    def config(self) -> dict:
        return self.provenance.get("config") or {}

    @property
    def min_power(self) -> float:
        v = (self.config.get("hotspots") or {}).get("min_power")
        return float(v) if v is not None else DEFAULT_MIN_POWER

    def patient_ids(self) -> list:
        ids = list(self.patients)
        for name in ("qc", "eligibility", "biomarkers"):
            df = self.table(name)
            if "patient_id" in df.columns:
                ids += list(df["patient_id"])
        return sorted(dict.fromkeys(i for i in ids if i))

    def sample_files(self, sample_id: str) -> dict:
        """CNVkit bins and segments of a sample (paths that exist only)."""
        if self.cnv_dir is None:
            return {}
        d = self.cnv_dir / sample_id
        out = {"cnr": d / f"{sample_id}.cnr", "cns": d / f"{sample_id}.cns"}
        return {k: p for k, p in out.items() if p.is_file() and p.stat().st_size}


def config_checksum(config: dict) -> str:
    """SHA-256 of the resolved config as canonical JSON (sorted keys): equal configs give equal checksums."""
    text = json.dumps(config or {}, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def load_run(tables_dir, patients_dir=None, provenance=None, cnv_dir=None) -> RunData:
    """Read the tables (missing ones empty), the patient traces and provenance; unreadable files are listed in
    ``problems`` (the pages say so) instead of stopping the report."""
    tables, problems = {}, []
    for name in TABLES:
        path = Path(tables_dir) / f"{name}.tsv"
        if not path.exists():
            tables[name] = pd.DataFrame()
            continue
        try:
            tables[name] = read_table(path)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            problems.append(f"{path}: cannot read ({exc})")
            tables[name] = pd.DataFrame()
    patients = {}
    if patients_dir and Path(patients_dir).is_dir():
        for path in sorted(Path(patients_dir).glob("*.json")):
            try:
                doc = json.loads(path.read_text())
                patients[doc["patient_id"]] = doc
            except (OSError, ValueError, KeyError) as exc:
                problems.append(f"{path}: cannot read the patient's evidence trace ({exc})")
    prov = {}
    if provenance and Path(provenance).is_file():
        try:
            prov = json.loads(Path(provenance).read_text())
        except (OSError, ValueError) as exc:
            problems.append(f"{provenance}: cannot read ({exc})")
    return RunData(tables, patients, prov, Path(cnv_dir) if cnv_dir else None, problems)


def codon_lod(depth, min_alt, min_power: float):
    """Detection limit of one codon: the VAF at which P(alt fragments >= min_alt | depth, VAF) = min_power.

    With X ~ Binomial(depth, f), P(X >= k) equals the regularised incomplete beta I_f(k, depth - k + 1), so the
    limit is that Beta distribution's ``min_power`` quantile (``betaincinv``, the function ``scipy.stats.beta.ppf``
    evaluates, without importing scipy.stats). None when the genotyper gave no required count.
    """
    from scipy import special

    try:
        n, k = int(float(depth)), int(float(min_alt))
    except (TypeError, ValueError):
        return None
    if n <= 0 or k <= 0 or k > n:
        return None
    return float(special.betaincinv(k, n - k + 1, min_power))


def read_bins(path) -> pd.DataFrame:
    """A CNVkit .cnr/.cns as a frame (chromosome, start, end, gene, log2, ...)."""
    df = pd.read_csv(path, sep="\t", dtype={"chromosome": str})
    for col in ("start", "end", "log2", "weight"):
        if col in df.columns:
            df[col] = pd.to_numeric(df[col], errors="coerce")
    return df
