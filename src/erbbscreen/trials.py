"""The trial rule set (config/trials.yaml): loading, validation and the criteria tree.

The file is validated against ``workflow/schemas/trials.schema.yaml`` every time it is loaded, then checked for
what a JSON schema cannot say (unique ids, codon-set names, cited sources, metric vs sample type, one target per
trial, informational criteria only at the top level). Every problem is reported at once; each message names the
file, the trial id, the key path inside the trial and what is allowed, e.g.::

    config/trials.yaml: trial HERACLES_A: criteria[1].parms: unknown key 'parms'; allowed: combine, crosscheck, ...

The tree: a trial's ``criteria`` list is an implicit ``all_of``; a node is a :class:`Leaf` (has ``kind``) or a
:class:`Group` (exactly one of ``all_of`` / ``any_of`` / ``not``). Semantics are in docs/eligibility.md and
:mod:`erbbscreen.eligibility`.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import yaml

from erbbscreen.errors import InputError

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = REPO_ROOT / "workflow" / "schemas" / "trials.schema.yaml"
DEFAULT_TRIALS = REPO_ROOT / "config" / "trials.yaml"

#: Criterion kinds DNA sequencing can assess, and those it cannot (they become next steps).
DNA_KINDS = ("erbb2_amplification", "ras_status", "braf_status", "nrg1_fusion", "erbb3", "co_alteration")
NON_DNA_KINDS = ("ihc", "ish", "rna", "clinical")
ROLES = ("target", "inclusion", "exclusion", "informational")
GROUP_OPS = ("all_of", "any_of", "not")
RAS_GENES = ("KRAS", "NRAS")

#: What each kind's proposition says when it is *true* (documented in docs/eligibility.md).
PROPOSITION = {
    "erbb2_amplification": "ERBB2 amplified",
    "erbb3": "ERBB3 amplified",
    "ras_status": "RAS wild type",
    "braf_status": "BRAF wild type at the listed variants",
    "nrg1_fusion": "qualifying NRG1 fusion present",
    "co_alteration": "none of the listed co-alterations present",
    "ihc": "protein expression criterion met (IHC)",
    "ish": "in situ hybridisation criterion met",
    "rna": "RNA-level criterion met",
    "clinical": "clinical criterion met",
}
#: Default combination of several samples: presence propositions take any sample, wild-type ones are conservative.
DEFAULT_COMBINE = {
    "erbb2_amplification": "any", "erbb3": "any", "nrg1_fusion": "any",
    "ras_status": "conservative", "braf_status": "conservative", "co_alteration": "conservative",
}
#: Informational criteria: the value that raises the flag, unless the criterion says otherwise.
DEFAULT_FLAG_WHEN = {
    "erbb2_amplification": True, "erbb3": True, "nrg1_fusion": True,
    "ras_status": False, "braf_status": False, "co_alteration": False,
}
EVALUABLE_BY = {"ihc": "ihc_fish", "ish": "ihc_fish", "rna": "rna", "clinical": "clinical"}
#: erbb2 / erbb3 metric -> the only sample type it applies to (call applies to both).
METRIC_SAMPLE = {"tissue_cn": "tumor", "plasma_pcn": "plasma", "plasma_apcn": "plasma"}


@dataclass
class Leaf:
    """One criterion of a trial."""
    id: str
    kind: str
    role: str
    verified: object  # True / False / "assumed"
    sources: list
    label: str = ""
    samples: tuple = ()
    crosscheck: tuple = ()
    combine: str = ""
    params: dict = field(default_factory=dict)
    next_step: str = ""
    flag_when: bool | None = None
    note: str = ""
    path: str = ""  # key path inside the trial, e.g. criteria[1].any_of[0]

    @property
    def is_dna(self) -> bool:
        return self.kind in DNA_KINDS

    @property
    def evaluable_by(self) -> str:
        if not self.is_dna:
            return EVALUABLE_BY[self.kind]
        return "+".join(f"dna_{'tissue' if s == 'tumor' else 'plasma'}" for s in self.samples)

    @property
    def verified_label(self) -> str:
        """'' for verified rules, 'UNVERIFIED' or 'ASSUMED' otherwise (printed in reasons)."""
        if self.verified is True:
            return ""
        return "ASSUMED" if self.verified == "assumed" else "UNVERIFIED"

    @property
    def name(self) -> str:
        return self.label or self.id


@dataclass
class Group:
    """all_of / any_of / not over child nodes."""
    op: str
    children: list
    id: str = ""
    note: str = ""
    path: str = ""


@dataclass
class Trial:
    id: str
    name: str
    nct: str | None
    drug: str
    target: str
    sources: list
    root: Group
    registry: str | None = None
    registry_verified: object = True
    phase: str = ""
    specimen: str = ""
    notes: str = ""

    def leaves(self) -> list:
        return list(iter_leaves(self.root))

    @property
    def informational(self) -> list:
        return [n for n in self.root.children if isinstance(n, Leaf) and n.role == "informational"]

    @property
    def decision_root(self) -> Group:
        """The tree without the top-level informational criteria (they never decide)."""
        kids = [n for n in self.root.children if not (isinstance(n, Leaf) and n.role == "informational")]
        return Group("all_of", kids, path="criteria")


@dataclass
class TrialSet:
    path: Path
    sha256: str
    codon_sets: dict
    sources: dict
    trials: list

    def by_id(self) -> dict:
        return {t.id: t for t in self.trials}

    def codons(self, spec) -> dict:
        """Resolve a ras ``genes`` spec (codon-set name or mapping) to {gene: [codons] | 'all'}."""
        if isinstance(spec, str):
            return dict(self.codon_sets[spec])
        return dict(spec)


def iter_leaves(node):
    if isinstance(node, Leaf):
        yield node
        return
    for child in node.children:
        yield from iter_leaves(child)


# ---------------------------------------------------------------------------------------------
# loading and validation
# ---------------------------------------------------------------------------------------------


def load_schema(path=None) -> dict:
    from erbbscreen.settings import read_bundled_yaml

    return read_bundled_yaml(path or SCHEMA_PATH)


def _fmt_path(parts) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _schema_at(schema: dict, root: dict) -> dict:
    ref = schema.get("$ref")
    if ref and ref.startswith("#/"):
        node = root
        for part in ref[2:].split("/"):
            node = node[part]
        return node
    return schema


def _locate(doc, path: list):
    """(trial id or None, key path inside the trial or the file) for a jsonschema error path."""
    path = list(path)
    if len(path) >= 2 and path[0] == "trials" and isinstance(path[1], int):
        trials = doc.get("trials") if isinstance(doc, dict) else None
        tid = None
        if isinstance(trials, list) and path[1] < len(trials) and isinstance(trials[path[1]], dict):
            tid = trials[path[1]].get("id")
        return (tid if tid is not None else f"#{path[1] + 1}"), _fmt_path(path[2:])
    return None, _fmt_path(path)


def _message(err, root_schema) -> tuple:
    """(extra path parts, message) for one jsonschema error, written for a person."""
    v = err.validator
    inst = err.instance
    schema = _schema_at(err.schema, root_schema) if isinstance(err.schema, dict) else {}
    if v == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        extra = sorted(k for k in inst if k not in schema.get("properties", {}))
        key = extra[0] if extra else "?"
        leaf_keys = {"role", "params", "samples", "verified", "sources", "next_step", "label"}
        if set(allowed) >= set(GROUP_OPS) and leaf_keys & set(inst):
            kinds = ", ".join(DNA_KINDS + NON_DNA_KINDS)
            return [], (f"criterion without 'kind' (a criterion needs kind: one of {kinds}; "
                        f"a group needs exactly one of all_of / any_of / not)")
        others = f" (also: {', '.join(repr(k) for k in extra[1:])})" if len(extra) > 1 else ""
        return [key], f"unknown key {key!r}{others}; allowed: {', '.join(allowed) if allowed else 'none'}"
    if v == "enum":
        allowed = ", ".join(str(x).lower() if isinstance(x, bool) else str(x) for x in err.validator_value)
        what = "criterion kind" if err.path and err.path[-1] == "kind" else "value"
        import difflib

        close = difflib.get_close_matches(str(inst), [str(x) for x in err.validator_value], n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return [], f"{inst!r} is not an allowed {what}{hint}; allowed: {allowed}"
    if v == "const":
        return [], f"{inst!r} is not allowed; expected {err.validator_value!r}"
    if v == "required":
        missing = [k for k in err.validator_value if k not in inst]
        return [], f"missing required key{'s' if len(missing) > 1 else ''} {', '.join(repr(k) for k in missing)}"
    if v == "type":
        want = err.validator_value if isinstance(err.validator_value, str) else " or ".join(err.validator_value)
        return [], f"expected {want}, got {inst!r}"
    if v == "pattern":
        return [], f"{inst!r} does not match the required pattern {err.validator_value}"
    if v in ("minItems", "minProperties", "minLength"):
        return [], f"must not be empty ({v} {err.validator_value})"
    if v == "oneOf":
        desc = schema.get("description") or "see workflow/schemas/trials.schema.yaml"
        return [], f"{inst!r} is not valid here: {desc}"
    return [], err.message


def _schema_problems(doc, path: Path, schema: dict) -> list:
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    seen = set()
    for err in sorted(validator.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path]):
        # if/then/else and allOf wrap the real error; report the innermost ones only
        errs = [err]
        while errs and errs[0].validator in ("if", "allOf", "anyOf") and errs[0].context:
            errs = list(errs[0].context)
        for e in errs:
            extra, msg = _message(e, schema)
            tid, where = _locate(doc, list(e.absolute_path) + extra)
            text = f"{path}: " + (f"trial {tid}: " if tid is not None else "") + (f"{where}: " if where else "") + msg
            if text not in seen:
                seen.add(text)
                problems.append(text)
    return problems


def _build_node(raw: dict, where: str, problems: list, prefix: str):
    if "kind" in raw:
        params = raw.get("params") or {}
        return Leaf(
            id=raw["id"], kind=raw["kind"], role=raw["role"], verified=raw["verified"], sources=list(raw["sources"]),
            label=raw.get("label", ""), samples=tuple(raw.get("samples", ())),
            crosscheck=tuple(raw.get("crosscheck", ())),
            combine=raw.get("combine") or DEFAULT_COMBINE.get(raw["kind"], ""), params=dict(params),
            next_step=raw.get("next_step", ""), flag_when=raw.get("flag_when"), note=raw.get("note", ""), path=where)
    ops = [k for k in GROUP_OPS if k in raw]
    if len(ops) != 1:
        problems.append(f"{prefix}{where}: a group needs exactly one of all_of / any_of / not, found "
                        f"{', '.join(ops) if ops else 'none'}")
        return None
    op = ops[0]
    if op == "not":
        child = _build_node(raw["not"], f"{where}.not", problems, prefix)
        children = [child] if child is not None else []
    else:
        children = [c for c in (_build_node(n, f"{where}.{op}[{i}]", problems, prefix)
                                for i, n in enumerate(raw[op])) if c is not None]
    return Group(op, children, id=raw.get("id", ""), note=raw.get("note", ""), path=where)


def _check_leaf(leaf: Leaf, trial_set_raw: dict, prefix: str, top_level: bool, problems: list) -> None:
    at = f"{prefix}{leaf.path}"
    codon_sets = trial_set_raw.get("codon_sets") or {}
    if leaf.role == "informational" and not top_level:
        problems.append(f"{at}: informational criterion {leaf.id!r} must sit directly in the trial's criteria list "
                        "(it never decides, so it cannot be part of all_of / any_of / not)")
    if leaf.is_dna:
        if not leaf.samples:
            problems.append(f"{at}: DNA criterion {leaf.id!r} needs 'samples' (tumor and/or plasma)")
    else:
        for key in ("samples", "crosscheck", "combine"):
            if getattr(leaf, key):
                problems.append(f"{at}.{key}: not allowed for kind {leaf.kind!r} (DNA sequencing cannot assess it; "
                                "it becomes a next step)")
        if leaf.role == "informational":
            problems.append(f"{at}.role: a {leaf.kind!r} criterion cannot be informational (nothing is measured); "
                            "allowed: target, inclusion, exclusion")
    if leaf.flag_when is not None and leaf.role != "informational":
        problems.append(f"{at}.flag_when: only informational criteria raise flags")
    overlap = set(leaf.samples) & set(leaf.crosscheck)
    if overlap:
        problems.append(f"{at}.crosscheck: {', '.join(sorted(overlap))} already in samples")
    if leaf.crosscheck and leaf.kind not in ("ras_status", "braf_status", "co_alteration"):
        problems.append(f"{at}.crosscheck: only wild-type criteria (ras_status, braf_status, co_alteration) can be "
                        "cross-checked; a presence criterion lists every sample type that may satisfy it in samples")
    p = leaf.params
    if leaf.kind in ("erbb2_amplification", "erbb3"):
        metric = p.get("metric")
        need = METRIC_SAMPLE.get(metric)
        if need and any(s != need for s in leaf.samples):
            problems.append(f"{at}.samples: metric {metric!r} applies to {need} samples only, got "
                            f"{', '.join(leaf.samples)}")
        if metric == "call" and ("op" in p or p.get("value") is not None):
            problems.append(f"{at}.params: metric 'call' uses the copy-number stage's call; op/value not allowed")
        if metric != "call" and "op" not in p:
            problems.append(f"{at}.params.op: required for metric {metric!r} ('>=' or '>')")
    if leaf.kind == "ras_status":
        genes = p.get("genes")
        if isinstance(genes, str) and genes not in codon_sets:
            problems.append(f"{at}.params.genes: unknown codon set {genes!r}; defined: "
                            f"{', '.join(sorted(codon_sets)) or 'none (add codon_sets)'}")
    if leaf.kind in ("ras_status", "braf_status"):
        wtd = p.get("wild_type_definition", "absent")
        if isinstance(wtd, dict):
            unused = set(wtd) - set(leaf.samples) - set(leaf.crosscheck)
            if unused:
                problems.append(f"{at}.params.wild_type_definition: {', '.join(sorted(unused))} is neither in samples "
                                "nor in crosscheck")
            missing = (set(leaf.samples) | set(leaf.crosscheck)) - set(wtd)
            if missing:
                problems.append(f"{at}.params.wild_type_definition: no definition for {', '.join(sorted(missing))}")


def _check_sources(cited, known: dict, where: str, problems: list) -> None:
    keys = sorted(known, key=len, reverse=True)
    for s in cited:
        if not any(s == k or s.startswith(k + " ") or s.startswith(k + ",") or s.startswith(k + ";") for k in keys):
            problems.append(f"{where}: source {s!r} does not start with a key of the file's 'sources' "
                            f"({', '.join(sorted(known))})")


def _build(doc: dict, path: Path) -> tuple:
    problems = []
    trials = []
    ids = set()
    known_sources = doc.get("sources") or {}
    for i, raw in enumerate(doc["trials"]):
        tid = raw["id"]
        prefix = f"{path}: trial {tid}: "
        if tid in ids:
            problems.append(f"{path}: trials[{i}].id: duplicate trial id {tid!r}")
        ids.add(tid)
        kids = [c for c in (_build_node(n, f"criteria[{j}]", problems, prefix) for j, n in enumerate(raw["criteria"]))
                if c is not None]
        trial = Trial(id=tid, name=raw["name"], nct=raw.get("nct"), drug=raw["drug"], target=raw["target"],
                      sources=list(raw["sources"]), root=Group("all_of", kids, path="criteria"),
                      registry=raw.get("registry"), registry_verified=raw.get("registry_verified", True),
                      phase=raw.get("phase", ""), specimen=raw.get("specimen", ""), notes=raw.get("notes", ""))
        _check_sources(trial.sources, known_sources, f"{path}: trial {tid}: sources", problems)
        leaf_ids = {}
        for leaf in trial.leaves():
            if leaf.id in leaf_ids:
                problems.append(f"{prefix}{leaf.path}.id: duplicate criterion id {leaf.id!r} (also at "
                                f"{leaf_ids[leaf.id]})")
            leaf_ids[leaf.id] = leaf.path
            top = any(leaf is n for n in trial.root.children)
            _check_leaf(leaf, doc, prefix, top, problems)
            _check_sources(leaf.sources, known_sources, f"{prefix}{leaf.path}.sources", problems)
        if not any(leaf.role == "target" for leaf in trial.leaves()):
            problems.append(f"{prefix}criteria: no criterion with role 'target' (the trial's selecting biomarker: "
                            "ERBB2/HER2, HER3 or NRG1); every trial needs one")
        trials.append(trial)
    return trials, problems


def load_trials(path=None, schema_path=None) -> TrialSet:
    """Load and validate a trial rule set; raises :class:`InputError` listing every problem."""
    from erbbscreen.settings import parse_yaml

    path = Path(path or DEFAULT_TRIALS)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the trial rule set ({exc.strerror})", header="Trial rule set")
    try:
        doc = parse_yaml(text)
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML: {exc}", header="Invalid trial rule set")
    if not isinstance(doc, dict):
        raise InputError(f"{path}: expected a mapping with schema_version, sources and trials",
                         header="Invalid trial rule set")
    schema = load_schema(schema_path)
    problems = _schema_problems(doc, path, schema)
    if problems:
        raise InputError(problems, header=f"Invalid trial rule set {path}")
    trials, problems = _build(doc, path)
    if problems:
        raise InputError(problems, header=f"Invalid trial rule set {path}")
    return TrialSet(path=path, sha256=hashlib.sha256(text).hexdigest(),
                    codon_sets={k: dict(v) for k, v in (doc.get("codon_sets") or {}).items()},
                    sources=dict(doc["sources"]), trials=trials)
