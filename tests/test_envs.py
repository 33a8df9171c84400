"""Conda environments (envs/*.yaml) stay honest although CI cannot solve them (no conda channels here): every
rule that runs code names one, each parses, pins every package exactly, and each pin equals the version the local
install runs (requirements.txt, the venv, and the Debian tools provenance.json records)."""
import platform
import re
import shutil
import subprocess
from importlib import metadata

import pytest
import yaml

from conftest import ROOT

ENVS = sorted((ROOT / "envs").glob("*.yaml"))
EXACT = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)\s*==?\s*(?P<version>[0-9][0-9A-Za-z.+_-]*)$")


def requirements() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def _first_version(cmd, pattern=r"(\d+\.\d+(?:\.\d+)?)"):
    if shutil.which(cmd[0]) is None:
        return None
    out = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=60)
    m = re.search(pattern, out.stdout + out.stderr)
    return m.group(1) if m else None


#: conda packages that are Debian tools on the local install: how to read the installed version
DEBIAN_TOOLS = {
    "samtools": lambda: _first_version(["samtools", "--version"]),
    "htslib": lambda: _first_version(["tabix", "--version"]),
    "bcftools": lambda: _first_version(["bcftools", "--version"]),
    "r-base": lambda: _first_version(["Rscript", "--version"]),
    "bioconductor-dnacopy": lambda: _first_version(["Rscript", "-e",
                                                     'cat(as.character(packageVersion("DNAcopy")))']),
}


def local_version(name: str):
    """(version, where) the local install runs for a conda package name, or (None, why)."""
    if name == "python":
        return platform.python_version(), "the running Python"
    if name in DEBIAN_TOOLS:
        return DEBIAN_TOOLS[name](), "the Debian tool"
    pinned = requirements().get(name)
    if pinned:
        return pinned, "requirements.txt"
    try:
        return metadata.version(name), "the venv"
    except metadata.PackageNotFoundError:
        return None, "not installed locally"


def test_env_files_exist():
    assert ENVS, "envs/*.yaml missing"


@pytest.mark.parametrize("env", ENVS, ids=lambda p: p.name)
def test_env_parses_and_pins_every_package(env):
    doc = yaml.safe_load(env.read_text())
    assert isinstance(doc, dict) and doc.get("channels") and doc.get("dependencies"), f"{env}: no channels/dependencies"
    assert "defaults" not in doc["channels"], f"{env}: the Anaconda defaults channel makes solves site-dependent"
    for dep in doc["dependencies"]:
        assert isinstance(dep, str), f"{env}: {dep!r}: pip sections are not used; list conda packages"
        m = EXACT.match(dep.strip())
        assert m and "*" not in dep, f"{env}: '{dep}' is not pinned to one exact version (write name==version)"


@pytest.mark.parametrize("env", ENVS, ids=lambda p: p.name)
def test_env_pins_agree_with_the_local_install(env):
    wrong = []
    for dep in yaml.safe_load(env.read_text())["dependencies"]:
        m = EXACT.match(dep.strip())
        name, version = m.group("name").lower(), m.group("version")
        local, where = local_version(name)
        if local != version:
            wrong.append(f"{name}=={version} but {where} has {local}")
    assert not wrong, f"{env}: " + "; ".join(wrong)


def test_requirements_are_pinned_exactly():
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        assert not line or re.match(r"^[A-Za-z0-9_.-]+==[0-9][^,<>=]*$", line), f"requirements.txt: '{line}'"


def rule_blocks():
    """(file, rule name, block text) for every rule and `use rule` in workflow/rules/*.smk."""
    for smk in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        text = smk.read_text()
        for m in re.finditer(r"^(rule|use rule) (\w+).*?(?=^\S|\Z)", text, re.S | re.M):
            yield smk, m.group(2), m.group(0)


def test_every_rule_that_runs_code_names_a_pinned_env():
    problems = []
    for smk, name, block in rule_blocks():
        if block.startswith("use rule"):
            continue  # inherits the conda env of the rule it reuses
        if not re.search(r"^\s+(script|shell|run|notebook|wrapper):", block, re.M):
            continue
        m = re.search(r"^\s+conda:\s*\n\s+\"([^\"]+)\"", block, re.M)
        if not m:
            problems.append(f"{smk.name}: rule {name} runs code but names no conda env")
            continue
        env = (smk.parent / m.group(1)).resolve()
        if env not in [e.resolve() for e in ENVS]:
            problems.append(f"{smk.name}: rule {name}: conda env {m.group(1)} is not one of envs/*.yaml")
    assert not problems, "\n".join(problems)
