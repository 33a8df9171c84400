"""Compare the deterministic outputs of two workflow runs byte for byte (determinism, SLURM vs local, resume).

Compared: every results/tables/*.tsv, every VCF under results/ (decompressed, without a ##fileDate header line,
the only place a run date may appear) and the per-patient JSON evidence traces. Plots, HTML/XLSX reports,
provenance.json (checksums of inputs and the config paths) and logs are not compared.
"""
from __future__ import annotations

import gzip
from pathlib import Path


def deterministic_outputs(workdir: Path) -> dict[str, bytes]:
    """relative path -> comparable bytes for one run directory."""
    results = Path(workdir) / "results"
    found = {}
    for path in sorted(results.glob("tables/*.tsv")):
        found[str(path.relative_to(workdir))] = path.read_bytes()
    for path in sorted(results.glob("**/*.vcf")) + sorted(results.glob("**/*.vcf.gz")):
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        lines = [line for line in data.splitlines(keepends=True) if not line.startswith(b"##fileDate")]
        found[str(path.relative_to(workdir))] = b"".join(lines)
    for path in sorted(results.glob("eligibility/patients/*.json")):
        found[str(path.relative_to(workdir))] = path.read_bytes()
    return found


def differences(a: Path, b: Path) -> list[str]:
    """Human-readable differences between two runs' deterministic outputs (empty when identical)."""
    left, right = deterministic_outputs(a), deterministic_outputs(b)
    problems = [f"only in {a}: {k}" for k in sorted(set(left) - set(right))]
    problems += [f"only in {b}: {k}" for k in sorted(set(right) - set(left))]
    for key in sorted(set(left) & set(right)):
        if left[key] != right[key]:
            la, lb = left[key].splitlines(), right[key].splitlines()
            first = next((i for i, (x, y) in enumerate(zip(la, lb)) if x != y), min(len(la), len(lb)))
            show = lambda lines: lines[first][:300] if first < len(lines) else b"<end of file>"  # noqa: E731
            problems.append(f"{key} differs at line {first + 1}:\n  {a}: {show(la)!r}\n  {b}: {show(lb)!r}")
    return problems
