"""`erbb-screen import`: biomarkers.tsv rows (docs/biomarkers.md) from result files a lab already has.

One module per input format (``vcf``, ``maf``, ``copynumber`` for CNVkit/PURPLE, ``fusions``, ``callable``),
the codon logic and absence rules in ``codons``, the shared record shapes in ``records``; this module puts one
sample together (:func:`import_sample`) and ``cli`` is the command line. Every biomarker the contract names gets
a row: a modality without an input file is ``not_evaluable`` ("not tested"), never negative. Method and rules:
docs/import.md.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from erbbscreen.annotation import read_hotspots
from erbbscreen.errors import InputError
from erbbscreen.hotspots import BIOMARKER_GENES, Codon, load_codons, merge_params, resolve_contig
from erbbscreen.importer.codons import CodonSettings, assess_sample, protein_codon, touches_codon
from erbbscreen.importer.records import Coverage
from erbbscreen.tables import write_table

log = logging.getLogger(__name__)

WORKFLOW_DIR = Path(__file__).resolve().parents[3]
BUILDS = ("GRCh38", "GRCh37")
NOT_TESTED = "not tested: no {what} file imported"
#: variants.tsv: every variant record outside the hotspot table in an annotated gene (informational)
VARIANT_COLUMNS = ["sample_id", "patient_id", "sample_type", "gene", "chrom", "pos", "ref", "alt", "protein_change",
                   "codon", "vaf", "depth", "filter", "record", "use"]
#: flank (bp) around each hotspot codon / gene kept when reading coverage and fetching indexed VCFs
_FLANK = 10


@dataclass
class ImportInputs:
    """The files of one imported sample (sheet columns / CLI options of the same names)."""
    vcf: str | None = None
    vcf_sample: str | None = None
    vcf_tags: dict = field(default_factory=dict)
    maf: str | None = None
    maf_sample: str | None = None
    cnr: str | None = None
    cns: str | None = None
    purple_gene_cn: str | None = None
    fusions: str | None = None
    fusion_assay: str = "unknown"
    callable: str | None = None

    def given(self) -> list:
        return [k for k in ("vcf", "maf", "cnr", "cns", "purple_gene_cn", "fusions", "callable") if getattr(self, k)]


def inputs_from_sheet_row(row) -> ImportInputs:
    """ImportInputs from a loaded sample-sheet row (paths already resolved by erbbscreen.samplesheet)."""
    def cell(col):
        v = row.get(col, "") if hasattr(row, "get") else ""
        v = "" if v is None or v != v else str(v).strip()
        return v or None
    return ImportInputs(vcf=cell("vcf"), vcf_sample=cell("vcf_sample"), maf=cell("maf"), maf_sample=cell("maf_sample"),
                        cnr=cell("cnr"), cns=cell("cns"), purple_gene_cn=cell("purple_gene_cn"),
                        fusions=cell("fusions"), fusion_assay=cell("fusion_assay") or "unknown",
                        callable=cell("callable"))


SHEET_OPTION_COLUMNS = ("vcf_sample", "maf_sample", "fusion_assay")
RESULT_FILE_FIELDS = ("vcf", "maf", "cnr", "cns", "purple_gene_cn", "fusions", "callable")


def sheet_row_fields(row) -> dict:
    """The import columns of a loaded sheet row as a plain dict (Snakemake params)."""
    return {c: str(row[c]) for c in RESULT_FILE_FIELDS + SHEET_OPTION_COLUMNS
            if c in row.index and isinstance(row[c], str) and row[c]}


def existing_result_files(row) -> list:
    """The row's result files that exist (a missing one is reported by the import job as a QC failure)."""
    return [str(row[c]) for c in RESULT_FILE_FIELDS
            if c in row.index and isinstance(row[c], str) and row[c] and Path(row[c]).exists()]


def check_sheet_row(row, build: str | None = None) -> list:
    """Start-up check of an imported sheet row: the files exist and open as the format their column says.
    Each problem names the file, what is wrong and the fix (the sample then fails QC; the cohort continues)."""
    inp = inputs_from_sheet_row(row)
    problems = check_inputs(inp, build)
    if problems:
        return problems
    checks = []
    if inp.vcf:
        def vcf_check():
            import pysam

            from erbbscreen.importer.vcf import choose_sample

            with pysam.VariantFile(inp.vcf) as vf:
                choose_sample(vf.header, inp.vcf, inp.vcf_sample)
            _check_build(_vcf_build(inp.vcf), build, f"VCF {inp.vcf} (contig lengths)")
        checks.append(vcf_check)
    if inp.maf:
        def maf_check():
            from erbbscreen.importer.maf import read_maf

            _check_build(_maf_build(inp.maf), build, f"MAF {inp.maf} (NCBI_Build column)")
            read_maf(inp.maf, inp.maf_sample)
        checks.append(maf_check)
    if inp.cnr:
        from erbbscreen.copynumber import _read_cnvkit_table

        checks += [lambda: _read_cnvkit_table(inp.cnr)] + ([lambda: _read_cnvkit_table(inp.cns)] if inp.cns else [])
    if inp.fusions:
        from erbbscreen.importer.fusions import detect_format

        checks.append(lambda: detect_format(inp.fusions))
    for check in checks:
        try:
            check()
        except InputError as exc:
            problems += exc.problems
        except (OSError, ValueError) as exc:
            problems.append(f"cannot be read ({exc})")
    return problems


def bundled(build: str, name: str):
    path = WORKFLOW_DIR / "resources" / build / name
    return str(path) if path.is_file() else None


def check_inputs(inp: ImportInputs, build: str | None = None) -> list:
    """Problems with the combination of inputs, each naming the option and the fix (before any file is read)."""
    problems = []
    if not inp.given():
        problems.append("no result file given; fix: give at least one of --vcf, --maf, --cnr, --purple-gene-cn, "
                        "--fusions")
    if inp.vcf and inp.maf:
        problems.append("--vcf and --maf both given: one variant file per sample; fix: give one of them")
    if (inp.cnr or inp.cns) and inp.purple_gene_cn:
        problems.append("CNVkit (--cnr/--cns) and PURPLE (--purple-gene-cn) both given; fix: give one copy-number "
                        "source")
    if inp.cns and not inp.cnr:
        problems.append("--cns without --cnr: gene-level values come from the .cnr bins; fix: add the .cnr")
    if inp.fusion_assay not in ("rna", "dna-nrg1-introns", "unknown"):
        problems.append(f"fusion assay {inp.fusion_assay!r}; allowed: rna, dna-nrg1-introns, unknown")
    if build is not None and build not in BUILDS + ("custom",):
        problems.append(f"build {build!r}; allowed: GRCh38, GRCh37 (or custom with explicit --hotspots)")
    for key in inp.given():
        if not Path(getattr(inp, key)).is_file():
            problems.append(f"{key}: {getattr(inp, key)} not found; fix: correct the path")
    return problems


def load_import_codons(hotspots_path, fasta=None):
    """(codons, fasta_codons): the hotspot table as Codon objects; reference codons only when a FASTA is given."""
    df = read_hotspots(hotspots_path)
    if fasta:
        from erbbscreen.annotation import harmonize_chroms
        from erbbscreen.settings import fasta_contigs

        codons = load_codons(harmonize_chroms(df, fasta_contigs(fasta)), fasta)
        return codons, {cd.key: cd.ref_codon for cd in codons}
    codons = [Codon(str(r.gene), int(r.codon), str(r.ref_aa), str(r.chrom), str(r.strand),
                    (int(r.pos1), int(r.pos2), int(r.pos3)), "") for r in df.itertuples(index=False)]
    return codons, {}


def pinned_reference_bases() -> dict:
    """{(gene, codon): coding-strand bases pinned by public data, N = unknown} (resources/hotspot_reference_bases.tsv)."""
    path = WORKFLOW_DIR / "resources" / "hotspot_reference_bases.tsv"
    if not path.is_file():
        return {}
    df = pd.read_csv(path, sep="\t", comment="#", dtype=str)
    return {(r.gene, int(r.codon)): r.ref_bases for r in df.itertuples(index=False)}


def _near(intervals):
    by_chrom = {}
    for c, s, e in intervals:
        by_chrom.setdefault(c, []).append((s - _FLANK, e + _FLANK))

    def keep(chrom, start0, end0):
        name = resolve_contig(str(chrom), by_chrom)
        return name is not None and any(start0 < e and end0 > s for s, e in by_chrom[name])
    return keep


def _check_build(records_build: str | None, build: str, what: str):
    if records_build and build in BUILDS and records_build != build:
        raise InputError([f"{what} is on {records_build} but --build is {build}; fix: give --build {records_build} "
                          f"(or lift the file over to {build})"])


def _vcf_build(path):
    import pysam

    from erbbscreen.preflight import guess_build

    with pysam.VariantFile(str(path)) as vf:
        lengths = {c: vf.header.contigs[c].length for c in vf.header.contigs if vf.header.contigs[c].length}
    return guess_build(lengths) if lengths else None


def _maf_build(records_path):
    import gzip

    raw = Path(records_path).read_bytes()
    text = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("utf-8", "replace")
    lines = [ln for ln in text.splitlines()[:3] if not ln.startswith("#")]
    if len(lines) < 2:
        return None
    head = [h.strip().lower() for h in lines[0].split("\t")]
    if "ncbi_build" not in head:
        return None
    value = lines[1].split("\t")[head.index("ncbi_build")].strip()
    return {"37": "GRCh37", "GRCh37": "GRCh37", "hg19": "GRCh37", "38": "GRCh38", "GRCh38": "GRCh38",
            "hg38": "GRCh38"}.get(value)


def informational_rows(records, codons, sample, genes_df, transcripts) -> tuple:
    """Variants outside the hotspot table in the annotated genes: a variants table and one informational
    biomarker row per gene (``<GENE>_OTHER_VARIANTS``), never used by a trial criterion."""
    wanted = set(BIOMARKER_GENES)
    if genes_df is not None:
        wanted |= set(genes_df["gene"])
    wanted |= set(transcripts or {})
    spans = {}
    if genes_df is not None:
        for r in genes_df.itertuples():
            spans.setdefault(r.gene, (r.chrom, int(r.start), int(r.end)))
    for g, t in (transcripts or {}).items():
        spans.setdefault(g, (t.chrom, t.start, t.end))
    rows = []
    for rec in records:
        if any(touches_codon(cd, rec) for cd in codons):
            continue
        gene = rec.gene
        if not gene:
            for g, (c, s, e) in spans.items():
                if resolve_contig(rec.chrom, [c]) == c and s < rec.pos <= e:
                    gene = g
                    break
        if gene not in wanted:
            continue
        pc = protein_codon(rec.protein_change)
        rows.append(dict(sample_id=sample["sample_id"], patient_id=sample["patient_id"],
                         sample_type=sample["sample_type"], gene=gene, chrom=rec.chrom, pos=rec.pos, ref=rec.ref,
                         alt=rec.alt, protein_change=rec.protein_change, codon=pc[1] if pc else "",
                         vaf="" if rec.vaf is None else f"{rec.vaf:.4g}",
                         depth="" if rec.depth is None else rec.depth, filter="PASS" if rec.passed else rec.filters,
                         record=rec.source, use="informational: outside the hotspot table; no trial criterion"))
    bm = []
    by_gene = {}
    for r in rows:
        if r["filter"] == "PASS":
            by_gene.setdefault(r["gene"], []).append(r)
    for gene, rs in sorted(by_gene.items()):
        changes = [r["protein_change"] or f"{r['chrom']}:{r['pos']}{r['ref']}>{r['alt']}" for r in rs]
        bm.append(dict(patient_id=sample["patient_id"], sample_id=sample["sample_id"],
                       sample_type=sample["sample_type"], biomarker=f"{gene}_OTHER_VARIANTS", status="positive",
                       value=",".join(changes),
                       evidence=(f"informational: {len(rs)} {gene} variant(s) outside the hotspot table "
                                 f"({', '.join(changes[:10])}{' ...' if len(changes) > 10 else ''}); not used by any "
                                 "trial criterion"),
                       details=json.dumps({"source": "imported", "informational": True, "variants": changes})))
    return rows, bm


def _not_tested(sample, biomarkers, what):
    return [dict(patient_id=sample["patient_id"], sample_id=sample["sample_id"], sample_type=sample["sample_type"],
                 biomarker=b, status="not_evaluable", value="", evidence=NOT_TESTED.format(what=what),
                 details=json.dumps({"source": "imported", "reason": "not tested"})) for b in biomarkers]


def import_sample(inp: ImportInputs, sample: dict, build: str, *, config: dict | None = None, fasta=None,
                  hotspots=None, transcripts=None, genes_bed=None, domains=None) -> dict:
    """Import one sample. ``sample``: sample_id, patient_id, sample_type, purity (None if unknown).

    Returns dict of DataFrames: biomarkers, hotspots, copy_number, fusions, variants, qc. Raises InputError
    (every problem of the inputs at once where possible) before reading when the combination is wrong.
    """
    problems = check_inputs(inp, build)
    if sample["sample_type"] not in ("tumor", "plasma"):
        problems.append(f"sample type {sample['sample_type']!r}: import writes tumour or plasma biomarkers")
    hotspots = hotspots or (bundled(build, "hotspots.tsv") if build in BUILDS else None)
    if (inp.vcf or inp.maf) and not hotspots:
        problems.append(f"no hotspot table for build {build!r}; fix: give --hotspots")
    if problems:
        raise InputError(problems, header=f"Import of sample {sample['sample_id']} cannot start")
    config = config or {}
    transcripts = transcripts or (bundled(build, "transcripts.bed12") if build in BUILDS else None)
    genes_bed = genes_bed or (bundled(build, "genes.bed") if build in BUILDS else None)
    domains = domains or (bundled(build, "domains.bed") if build in BUILDS else None)
    from erbbscreen.annotation import read_domains, read_genes, read_transcripts

    tx = read_transcripts(transcripts) if transcripts else {}
    genes_df = read_genes(genes_bed) if genes_bed else None
    dom = read_domains(domains) if domains else None

    biom, out = [], {"hotspots": pd.DataFrame(), "copy_number": pd.DataFrame(), "fusions": pd.DataFrame(),
                     "variants": pd.DataFrame(columns=VARIANT_COLUMNS)}
    inputs_used = {k: str(Path(getattr(inp, k)).resolve()) for k in inp.given()}

    # --- hotspots ------------------------------------------------------------------------------------
    tumour_dna = False
    if inp.vcf or inp.maf:
        hp = merge_params(config.get("hotspots"))
        s = CodonSettings(int(config.get("import", {}).get("min_depth") or hp["depth_tiers"]["low"]),
                          int(hp["depth_tiers"]["ok"]), float(hp["tumor_fraction_vaf_multiplier"]))
        codons, fasta_codons = load_import_codons(hotspots, fasta)
        spans = [(cd.chrom, min(cd.positions) - 1, max(cd.positions)) for cd in codons]
        keep = _near(spans)
        gene_spans = [(r.chrom, int(r.start), int(r.end)) for r in genes_df.itertuples()] if genes_df is not None else []
        if inp.vcf:
            from erbbscreen.importer.vcf import read_vcf

            _check_build(_vcf_build(inp.vcf), build, f"VCF {inp.vcf} (contig lengths)")
            records, cov, chosen = read_vcf(inp.vcf, inp.vcf_sample, inp.vcf_tags, regions=spans + gene_spans,
                                            keep_coverage=keep)
            sample_note = f"VCF sample column {chosen}"
        else:
            from erbbscreen.importer.maf import read_maf

            _check_build(_maf_build(inp.maf), build, f"MAF {inp.maf} (NCBI_Build column)")
            records, chosen = read_maf(inp.maf, inp.maf_sample)
            cov = Coverage(sources=[])
            sample_note = f"MAF Tumor_Sample_Barcode {chosen}"
        if inp.callable:
            from erbbscreen.importer.callable import read_callable

            extra = read_callable(inp.callable, keep, inp.vcf_sample)
            cov.intervals += extra.intervals
            cov.sources += extra.sources
        rows, gene_rows = assess_sample(codons, records, cov, sample, s, fasta_codons, pinned_reference_bases())
        tumour_dna = any(r["status"] == "detected" for r in rows)
        biom += gene_rows
        out["hotspots"] = pd.DataFrame(rows)
        var_rows, info_bm = informational_rows(records, codons, sample, genes_df, tx)
        out["variants"] = pd.DataFrame(var_rows, columns=VARIANT_COLUMNS)
        biom += info_bm
        log.info("%s: %d variant records (%s); coverage from %s", sample["sample_id"], len(records), sample_note,
                 ", ".join(cov.sources) or "nothing")
    else:
        biom += _not_tested(sample, list(BIOMARKER_GENES) + ["TUMOR_FRACTION"], "variant (VCF/MAF)")
        if sample.get("purity") is not None:
            biom[-1].update(status="positive", value=f"{sample['purity']:g}",
                            evidence=f"tumour fraction {sample['purity']:g} given (--purity / sheet purity)",
                            details=json.dumps({"method": "sample_sheet", "source": "imported"}))

    # --- copy number ---------------------------------------------------------------------------------
    if inp.cnr or inp.purple_gene_cn:
        from erbbscreen.importer import copynumber as icn

        if inp.cnr:
            genes_rows, cn_bm = icn.from_cnvkit(inp.cnr, inp.cns, sample, config.get("cnv"))
        else:
            genes_rows, cn_bm = icn.from_purple(inp.purple_gene_cn, sample, config.get("cnv"))
        out["copy_number"] = genes_rows
        biom += cn_bm.to_dict("records")
    else:
        biom += _not_tested(sample, ["ERBB2_CN", "ERBB3_CN"], "copy-number (CNVkit/PURPLE)")

    # --- fusions -------------------------------------------------------------------------------------
    if inp.fusions:
        from erbbscreen.importer import fusions as ifz

        junctions, fmt = ifz.read_fusions(inp.fusions)
        model = ifz.GeneModel(tx, genes_df, dom)
        row, frows, notes = ifz.assess(junctions, model, inp.fusion_assay, dict(sample, tumour_dna=tumour_dna),
                                       config.get("fusions"), f"{fmt} file {Path(inp.fusions).name}")
        biom.append(row)
        out["fusions"] = pd.DataFrame(frows)
        for n in notes:
            log.info("%s", n)
    else:
        biom += _not_tested(sample, ["NRG1_FUSION"], "fusion (Arriba/STAR-Fusion/BEDPE/VCF)")

    out["biomarkers"] = pd.DataFrame(biom)
    out["qc"] = pd.DataFrame([dict(sample_id=sample["sample_id"], patient_id=sample["patient_id"],
                                   sample_type=sample["sample_type"], status="pass", reasons="",
                                   source="imported", inputs=json.dumps(inputs_used, sort_keys=True))])
    return out


def failed_sample(sample: dict, reason: str) -> dict:
    """Outputs of a sample whose files could not be imported: QC fail, every biomarker not_evaluable."""
    rows = _not_tested(sample, list(BIOMARKER_GENES) + ["TUMOR_FRACTION", "ERBB2_CN", "ERBB3_CN", "NRG1_FUSION"],
                       "usable")
    for r in rows:
        r["evidence"] = f"import failed: {reason}"
    return {"biomarkers": pd.DataFrame(rows), "hotspots": pd.DataFrame(), "copy_number": pd.DataFrame(),
            "fusions": pd.DataFrame(), "variants": pd.DataFrame(columns=VARIANT_COLUMNS),
            "qc": pd.DataFrame([dict(sample_id=sample["sample_id"], patient_id=sample["patient_id"],
                                     sample_type=sample["sample_type"], status="fail",
                                     reasons=f"import failed: {reason}", source="imported")])}


OUTPUT_TABLES = {"biomarkers": "biomarkers", "hotspots": "hotspots", "copy_number": "copy_number",
                 "fusions": "fusions", "qc": "qc", "variants": None}


def write_outputs(result: dict, out_dir) -> dict:
    """Write every table of :func:`import_sample` as ``out_dir/<name>.tsv`` (contract columns first)."""
    paths = {}
    for name, table in OUTPUT_TABLES.items():
        path = Path(out_dir) / f"{name}.tsv"
        write_table(result[name], path, table)
        paths[name] = str(path)
    return paths


def run_sheet_sample(sample: dict, row: dict, build: str, outputs: dict, *, config=None, fasta=None, hotspots=None,
                     transcripts=None, domains=None) -> dict:
    """Sheet mode (workflow rule import_results): import one row; a bad file gives QC fail + not_evaluable rows."""
    inp = inputs_from_sheet_row(row)
    try:
        result = import_sample(inp, sample, build, config=config, fasta=fasta, hotspots=hotspots,
                               transcripts=transcripts, domains=domains)
    except InputError as exc:
        log.error("%s", exc)
        result = failed_sample(sample, "; ".join(exc.problems))
    for name, table in OUTPUT_TABLES.items():
        write_table(result[name], outputs[name], table)
    log.info("%s: %s", sample["sample_id"], dict(zip(result["biomarkers"]["biomarker"],
                                                      result["biomarkers"]["status"])))
    return result
