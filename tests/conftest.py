"""Shared fixtures. `workflow_results` runs the whole workflow once per test session on the SYNTHETIC cohort."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COHORT = ROOT / "tests" / "cohort" / "data"


def cohort_ready(cohort: Path = COHORT) -> bool:
    """The synthetic cohort is generated completely (tests/cohort/make_cohort.py writes cohort.json last)."""
    try:
        return json.loads((cohort / "cohort.json").read_text()).get("complete") is True
    except (OSError, ValueError):
        return False
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def cohort_config(workdir: Path) -> Path:
    """The bundled config/config.yaml with the cohort paths made absolute, written into ``workdir``."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    def absolute(p):
        return str((ROOT / p).resolve())
    config["samples"] = absolute(config["samples"])
    config["reference"]["fasta"] = absolute(config["reference"]["fasta"])
    for key, value in list(config.get("annotation", {}).items()):
        config["annotation"][key] = absolute(value)
    if config.get("panel", {}).get("targets"):
        config["panel"]["targets"] = absolute(config["panel"]["targets"])
    config["trials"] = absolute(config["trials"])
    path = workdir / "cohort.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run_snakemake(workdir: Path, *args, configfile: Path | None = None, timeout=1500):
    cmd = [str(SNAKEMAKE), "-s", str(ROOT / "Snakefile"), "--directory", str(workdir)]
    if configfile:
        cmd += ["--configfile", str(configfile)]
    cmd += list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def run_once(tmp_path_factory, name: str, build_inputs, reuse_env: str, what: str) -> Path:
    """A whole workflow run for a test module: the inputs ``build_inputs(workdir)`` writes (it returns the config
    file), run with every core; ``$reuse_env`` names an earlier run directory to reuse instead. Fails the tests
    with the end of Snakemake's output when the run fails."""
    reuse = os.environ.get(reuse_env)
    if reuse:
        return Path(reuse)
    workdir = tmp_path_factory.mktemp(name)
    cfg = build_inputs(workdir)
    proc = run_snakemake(workdir, "--cores", str(os.cpu_count() or 2), configfile=cfg, timeout=1200)
    if proc.returncode != 0:
        pytest.fail(f"workflow on {what} failed (rc {proc.returncode}):\n{(proc.stdout + proc.stderr)[-6000:]}")
    return workdir


def real_reads_config(workdir: Path, fasta: Path, targets: Path, hotspots: Path | None, build: str = "GRCh37",
                      qc: dict | None = None) -> Path:
    """config/config.yaml for a real-read test run in ``workdir`` (its samples.tsv there): the given reference,
    panel targets and hotspot table (None: the bundled build's), the bundled trials, and ``qc`` overrides (each
    test module says why its small read set needs them). Written to workdir/config.yaml."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["samples"] = str(workdir / "samples.tsv")
    config["reference"] = {"fasta": str(fasta), "build": build}
    config["annotation"] = {"hotspots": str(hotspots)} if hotspots else {}
    config["panel"] = {"targets": str(targets)}
    config["trials"] = str(ROOT / config["trials"])
    config["qc"].update(qc or {})
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def result_table(run: Path, name: str):
    """results/tables/<name> of a run directory."""
    from erbbscreen.tables import read_table

    return read_table(run / "results" / "tables" / name)


def assert_outputs_written(run: Path, tables) -> None:
    for name in tables:
        assert (run / "results" / "tables" / name).exists(), name
    assert (run / "results" / "report" / "report.html").exists()


@pytest.fixture(scope="session")
def cohort_dir() -> Path:
    if not (COHORT / "samples.tsv").exists():
        pytest.skip("synthetic cohort not generated: run `.venv/bin/python tests/cohort/make_cohort.py "
                    "--out tests/cohort/data` (test.sh does it)")
    return COHORT


@pytest.fixture(scope="session")
def workflow_results(cohort_dir, tmp_path_factory) -> Path:
    """Working directory of a complete run on the cohort (results/ and logs/ inside).

    Set ERBBSCREEN_RESULTS=<workdir> to reuse an existing run while developing."""
    reuse = os.environ.get("ERBBSCREEN_RESULTS")
    if reuse:
        return Path(reuse)
    workdir = tmp_path_factory.mktemp("run")
    cfg = cohort_config(workdir)
    proc = run_snakemake(workdir, "--cores", str(os.cpu_count() or 2), configfile=cfg)
    if proc.returncode != 0:
        pytest.fail(f"workflow run failed (rc {proc.returncode}):\n{proc.stderr[-6000:]}")
    return workdir
