"""Jinja2 environment (autoescaped: table text can never inject HTML) and the page parts every page shares:
inline CSS/JS, provenance and the list of what is not verified."""
from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import jinja2

from erbbscreen import __version__
from erbbscreen.report.data import RunData, config_checksum
from erbbscreen.report.fmt import ELIGIBILITY_ORDER, STATUS_MEANING, colour, verified_label

TEMPLATES = Path(__file__).with_name("templates")


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["colour"] = colour
    return env


def asset(name: str) -> str:
    return (TEMPLATES / name).read_text()


def render(template: str, **context) -> str:
    base = {"css": asset("report.css"), "script": "", "version": __version__, "problems": [],
            "created": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "legend": [(s, STATUS_MEANING[s]) for s in ELIGIBILITY_ORDER]}
    base.update(context)
    return environment().get_template(template).render(**base)


def _unverified_settings(settings: dict, prefix: str = "") -> list:
    """Engine settings whose provenance text says UNVERIFIED (e.g. a derived ctDNA floor)."""
    out = []
    for k, v in (settings or {}).items():
        if isinstance(v, dict):
            out += _unverified_settings(v, f"{prefix}{k}.")
        elif isinstance(v, str) and ("UNVERIFIED" in v or "ASSUMED" in v):
            out.append(f"eligibility.{prefix}{k.removesuffix('_source')}: {v}")
    return out


def provenance_model(run: RunData, trials: list | None = None) -> dict:
    """Versions, reference, config checksum and what is unverified, for the provenance block."""
    prov = run.provenance
    sums = prov.get("checksums") or {}
    ref = sums.get("reference_fasta") or {}
    build = ((run.config.get("reference") or {}).get("build")) or "?"
    reference = (f"{ref.get('path', '?')} (build {build}; sha256 {str(ref.get('sha256', '?'))[:16]}...)"
                 if ref else f"build {build} (no checksum: provenance.json not given)")
    trials_sum = sums.get("trials") or {}
    tools = prov.get("tools") or {}
    cnv = prov.get("cnv_reference") or prov.get("copy_number_reference") or {}
    by_rule = {}  # (criterion label, verification label) -> trials using it
    for t in trials or []:
        for c in t.get("criteria") or []:
            label = verified_label(c.get("verified"))
            if label != "verified":
                trials_of = by_rule.setdefault((c.get("label") or c.get("criterion"), label), [])
                if t.get("trial_id") not in trials_of:
                    trials_of.append(t.get("trial_id"))
    unverified = [f"{name} ({label}): {', '.join(ts)}" for (name, label), ts in sorted(by_rule.items())]
    settings = {}
    for doc in run.patients.values():
        settings = (doc.get("engine") or {}).get("settings") or {}
        break
    unverified += _unverified_settings(settings)
    return {
        "version": prov.get("version") or __version__, "git_commit": prov.get("git_commit"),
        "created": prov.get("created") or "?", "reference": reference,
        "config_sha256": config_checksum(run.config) if run.config else "n/a (provenance.json not given)",
        "trials": (f"{trials_sum.get('path')} (sha256 {str(trials_sum.get('sha256'))[:16]}...)" if trials_sum
                   else "?"),
        "tools": ", ".join(f"{k} {v}" for k, v in tools.items() if v) or "?",
        "cnv_reference": (", ".join(f"{k}: {v}" for k, v in cnv.items() if not isinstance(v, (dict, list)))
                          if isinstance(cnv, dict) and cnv else "see provenance.json"),
        "unverified": unverified,
    }
