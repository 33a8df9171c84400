"""results/provenance.json: workflow version, tool versions, the resolved config, checksums of inputs."""
from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from erbbscreen import __version__
from erbbscreen.tables import write_text


def sha256(path, chunk=1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _pkg_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _cmd_version(cmd: list[str]) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else None


def _git_commit(repo: Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def tool_versions() -> dict:
    import pysam

    versions = {name: _pkg_version(name) for name in
                ("snakemake", "cnvkit", "pysam", "pandas", "numpy", "scipy", "jsonschema", "matplotlib", "openpyxl")}
    versions["htslib (pysam)"] = pysam.version.__htslib_version__
    versions["samtools"] = _cmd_version(["samtools", "--version"])
    versions["Rscript"] = _cmd_version(["Rscript", "--version"])
    # the versions envs/*.yaml pin for conda runs (tests/test_envs.py compares them)
    versions["htslib (tabix)"] = _cmd_version(["tabix", "--version"])
    versions["DNAcopy"] = _cmd_version(["Rscript", "-e", 'cat(as.character(packageVersion("DNAcopy")))'])
    versions["python"] = platform.python_version()
    return versions


def write_provenance(out: str, config: dict, files: dict, extra: dict | None = None, workflow_dir=None) -> dict:
    """Write provenance JSON. ``files`` maps a label to a path (None skipped); each gets size + sha256."""
    checksums = {}
    for label, path in files.items():
        if path and Path(path).is_file():
            checksums[label] = {"path": str(path), "bytes": Path(path).stat().st_size, "sha256": sha256(path)}
    doc = {
        "workflow": "erbb-screen",
        "version": __version__,
        "git_commit": _git_commit(Path(workflow_dir)) if workflow_dir else None,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "tools": tool_versions(),
        "config": config,
        "checksums": checksums,
    }
    if extra:
        doc.update(extra)
    write_text(out, json.dumps(doc, indent=2, default=str) + "\n")
    return doc
