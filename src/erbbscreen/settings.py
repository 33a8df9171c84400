"""Configuration: validate against the JSON schema (every problem at once), resolve paths, check files.

Paths a user writes in a config file resolve against the working directory (absolute paths as given); the
workflow's own bundled files (default trials, resources) resolve against the workflow directory.
"""
from __future__ import annotations

import copy
import difflib
import functools
from pathlib import Path

import jsonschema
import yaml

from erbbscreen.errors import InputError

WORKFLOW_DIR = Path(__file__).resolve().parents[2]
CONFIG_SCHEMA = WORKFLOW_DIR / "workflow" / "schemas" / "config.schema.yaml"
DEFAULT_TRIALS = WORKFLOW_DIR / "config" / "trials.yaml"
BUNDLED_BUILDS = ("GRCh38", "GRCh37")


def config_section(path, section: str | None = None) -> dict:
    """A stage CLI's `--config`: the YAML file's ``section`` (the whole file when None); {} without a file.
    An unreadable or non-mapping file stops with the file named."""
    if not path:
        return {}
    try:
        data = parse_yaml(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InputError([f"{path}: cannot read the config file ({exc}); give a YAML file like config/config.yaml"])
    if not isinstance(data, dict):
        raise InputError([f"{path}: the config file must be a YAML mapping of sections (like config/config.yaml)"])
    return data if section is None else (data.get(section) or {})


#: libyaml's C loader when PyYAML has it: the same documents as yaml.safe_load, about 10x faster (the pure-Python
#: loader cost each job ~0.2 s on the config schema, and the Snakefile as much again on the trial rule set)
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text):
    """``yaml.safe_load`` of ``text`` (str or bytes) through :data:`SAFE_LOADER`; raises ``yaml.YAMLError``."""
    return yaml.load(text, Loader=SAFE_LOADER)


@functools.lru_cache(maxsize=32)
def _parse_bundled_yaml(path: str, mtime_ns: int, size: int):
    return parse_yaml(Path(path).read_text())


def read_bundled_yaml(path):
    """A YAML file shipped with the workflow (a schema), parsed once per process (:func:`parse_yaml`); a fresh copy
    per call, so callers may change it."""
    st = Path(path).stat()  # a file changed in place (tests, an edited schema) is parsed again
    return copy.deepcopy(_parse_bundled_yaml(str(Path(path).resolve()), st.st_mtime_ns, st.st_size))


def load_schema(path=CONFIG_SCHEMA) -> dict:
    return read_bundled_yaml(path)


def _schema_at(schema: dict, path) -> dict:
    node = schema
    for key in path:
        if isinstance(key, int):
            node = node.get("items", {})
        else:
            node = node.get("properties", {}).get(key, {})
    return node


def _describe(error: jsonschema.ValidationError, schema: dict, source: str) -> str:
    where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator == "additionalProperties":
        node = _schema_at(schema, list(error.absolute_path))
        allowed = sorted(node.get("properties", {}))
        extras = [k for k in error.instance if k not in node.get("properties", {})]
        msgs = []
        for key in extras:
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            prefix = f"{where}." if where != "(top level)" else ""
            msgs.append(f"{source}: unknown config key '{prefix}{key}'{hint}; allowed keys here: {', '.join(allowed)}")
        return "\n  - ".join(msgs)
    node = _schema_at(schema, list(error.absolute_path))
    desc = node.get("description")
    allowed = f"; allowed: {desc}" if desc else ""
    if error.validator == "required":
        return f"{source}: {where}: {error.message}"
    return f"{source}: config key '{where}': {error.message}{allowed}"


def _inject_defaults(config: dict, schema: dict) -> None:
    """Fill in `default:` values from the schema (objects recursively), like snakemake.utils.validate."""
    for key, sub in schema.get("properties", {}).items():
        if key not in config and "default" in sub:
            config[key] = copy.deepcopy(sub["default"])
        if isinstance(config.get(key), dict) and sub.get("type") == "object":
            _inject_defaults(config[key], sub)


def validate_config(config: dict, source: str = "config", schema_path=CONFIG_SCHEMA) -> dict:
    """Validate ``config``; return a copy with schema defaults filled in. Raises InputError with every problem."""
    schema = load_schema(schema_path)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        raise InputError([_describe(e, schema, source) for e in errors], header=f"Configuration {source} is invalid")
    config = copy.deepcopy(config)
    _inject_defaults(config, schema)
    return config


def _resolve(path, base: Path) -> str:
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


def resolve_paths(config: dict, workdir=None) -> dict:
    """Resolve the config's file paths; returns dict with keys fasta, build, transcripts, hotspots, domains,
    panel, cnv_reference, trials, samples (absolute paths or None)."""
    base = Path(workdir or Path.cwd())
    build = config["reference"].get("build", "GRCh38")
    ann = config.get("annotation", {}) or {}
    res_dir = WORKFLOW_DIR / "resources" / build
    def annotation(key, filename):
        if ann.get(key):
            return _resolve(ann[key], base)
        if build in BUNDLED_BUILDS and (res_dir / filename).exists():
            return str(res_dir / filename)
        return None
    return {
        "samples": _resolve(config["samples"], base),
        "fasta": _resolve(config["reference"]["fasta"], base),
        "build": build,
        "transcripts": annotation("transcripts", "transcripts.bed12"),
        "hotspots": annotation("hotspots", "hotspots.tsv"),
        "domains": annotation("domains", "domains.bed"),
        "panel": _resolve(config["panel"]["targets"], base) if (config.get("panel") or {}).get("targets") else None,
        "cnv_reference": _resolve(config["cnv"]["reference"], base) if (config.get("cnv") or {}).get("reference") else None,
        "trials": _resolve(config["trials"], base) if config.get("trials") else str(DEFAULT_TRIALS),
    }


def check_files(paths: dict) -> list[str]:
    """Problems with the reference and annotation files (existence, .fai), each naming the file and the fix."""
    problems = []
    fasta = paths["fasta"]
    if not Path(fasta).is_file():
        problems.append(f"reference.fasta: {fasta} not found; fix: set reference.fasta to an existing FASTA file")
    else:
        if not Path(fasta + ".fai").is_file():
            problems.append(f"reference.fasta: index {fasta}.fai not found; fix: run `samtools faidx {fasta}` "
                            "(for a bgzip FASTA also keep the .gzi beside it)")
        if fasta.endswith(".gz") and not Path(fasta + ".gzi").is_file():
            problems.append(f"reference.fasta: {fasta} is compressed but {fasta}.gzi is missing; fix: the FASTA must "
                            "be bgzip-compressed (not gzip) and indexed with `samtools faidx`")
    for key, what, fix in (
        ("transcripts", "annotation.transcripts", "give a BED12 of canonical transcripts"),
        ("hotspots", "annotation.hotspots", "give the hotspot codon table (TSV)"),
    ):
        if paths[key] is None:
            problems.append(f"{what}: not set and no bundled default for build '{paths['build']}'; fix: {fix}")
        elif not Path(paths[key]).is_file():
            problems.append(f"{what}: {paths[key]} not found; fix: {fix} or remove the key to use the bundled default")
    for key, what in (("domains", "annotation.domains"), ("panel", "panel.targets"), ("cnv_reference", "cnv.reference"),
                      ("trials", "trials"), ("samples", "samples")):
        if paths[key] is not None and not Path(paths[key]).is_file():
            problems.append(f"{what}: {paths[key]} not found; fix: correct the path or remove the key")
    return problems


def fasta_contigs(fasta: str) -> dict[str, int]:
    """Contig name -> length from the FASTA's .fai."""
    contigs = {}
    with open(fasta + ".fai") as fh:
        for line in fh:
            fields = line.rstrip("\n").split("\t")
            if len(fields) >= 2:
                contigs[fields[0]] = int(fields[1])
    return contigs
