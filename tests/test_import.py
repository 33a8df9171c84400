"""`erbb-screen import`: real public result files (tests/data/import/PROVENANCE.md) give the conclusions their
sources state, absence is never read as wild type, and the sheet mode runs import -> eligibility -> report.

Files written inside a test are SYNTHETIC (labelled where they are made); every file under tests/data/ is real
public data with its provenance.
"""
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import ROOT, cohort_config, run_snakemake
from erbbscreen.eligibility import run as run_eligibility
from erbbscreen.errors import InputError
from erbbscreen.importer import ImportInputs, check_sheet_row, import_sample, write_outputs
from erbbscreen.importer.cli import main as import_main
from erbbscreen.samplesheet import load_samplesheet
from erbbscreen.tables import read_table

def _real_files_dir() -> Path | None:
    """The real public files (PROVENANCE.md beside this folder's copy in the repo): fetched from public repositories,
    they are kept only in the steering repository's shared/ (../shared/data/import), never committed here."""
    for d in (ROOT / "tests" / "data" / "import", ROOT.parent / "shared" / "data" / "import"):
        if (d / "tcga_laml.maf.gz").is_file():
            return d
    return None


DATA = _real_files_dir() or ROOT / "tests" / "data" / "import"
needs_real_files = pytest.mark.skipif(
    _real_files_dir() is None, reason="real public result files not found in tests/data/import or "
    "../shared/data/import (tests/data/import/PROVENANCE.md lists them: repository, commit, path, sha256)")
REAL = ROOT / "tests" / "data" / "real"
COAD_VCF = DATA / "T001-COAD.grch38.vcf.gz"
LAML_MAF = DATA / "tcga_laml.maf.gz"
GRCH38_HOTSPOTS = ROOT / "resources" / "GRCh38" / "hotspots.tsv"
GRCH37_HOTSPOTS = ROOT / "resources" / "GRCh37" / "hotspots.tsv"
BRAF_WT_TRIALS = ("HERACLES_B", "DESTINY_CRC01", "SWOG_S1613")


def tumour(sid="S1-T", pid="S1", purity=None, sample_type="tumor"):
    return dict(sample_id=sid, patient_id=pid, sample_type=sample_type, purity=purity)


def rows(result):
    return {r["biomarker"]: r for r in result["biomarkers"].to_dict("records")}


def codons_of(row):
    return json.loads(row["details"])["codons"]


def callable_bed(tmp_path, hotspots, name="callable.bed", depth=None):
    """SYNTHETIC callable BED: every codon of the hotspot table declared covered (optionally with a depth)."""
    h = pd.read_csv(hotspots, sep="\t", comment="#")
    lines = [f"{r.chrom}\t{min(r.pos1, r.pos3) - 1}\t{max(r.pos1, r.pos3)}" + (f"\t{depth}" if depth else "")
             for r in h.itertuples()]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def verdicts(tmp_path, result):
    bm = tmp_path / "biomarkers.tsv"
    write_outputs(result, tmp_path)
    table = run_eligibility(bm, trials=ROOT / "config" / "trials.yaml")
    return dict(zip(table["trial_id"], table["status"])), table


# --------------------------------------------------------------------------------------------- real VCF / MAF
@needs_real_files
def test_real_coad_vcf_braf_v600e_positive_and_excludes_braf_wild_type_trials(tmp_path):
    """TCGA-A6-2686 (COAD) somatic calls, PCGR example: BRAF V600E 17/54 reads; no other hotspot."""
    result = import_sample(ImportInputs(vcf=str(COAD_VCF)), tumour("A6-2686-T", "A6-2686"), "GRCh38")
    bm = rows(result)
    assert bm["BRAF"]["status"] == "positive" and bm["BRAF"]["value"] == "p.V600E"
    braf = codons_of(bm["BRAF"])["600"]
    assert braf["alt_reads"] == 17 and braf["depth"] == 54 and abs(braf["vaf"] - 17 / 54) < 1e-3
    # a VCF lists variants only: without coverage information RAS is untested, never wild type
    for gene in ("KRAS", "NRAS", "PIK3CA"):
        assert bm[gene]["status"] == "not_evaluable", bm[gene]
        assert "not tested: no coverage information" in bm[gene]["evidence"]
        assert all(c["status"] == "not_evaluable" for c in codons_of(bm[gene]).values())
    v, table = verdicts(tmp_path, result)
    for trial in BRAF_WT_TRIALS:
        assert v[trial] == "excluded", table[table.trial_id == trial].to_dict("records")
        assert "BRAF p.V600E" in table[table.trial_id == trial]["reasons"].iloc[0]
    assert "candidate" not in v.values()


def test_real_brca_vcf_pik3ca_h1047r_and_untested_ras_is_never_wild_type(tmp_path):
    """TCGA-A2-A04W (BRCA) somatic calls, PCGR example in tests/data/real (PROVENANCE.md): PIK3CA p.H1047R
    (3:179234297 A>G, TVAF 0.419 at TDP 74); no KRAS/NRAS/BRAF record. Runs in CI on every machine."""
    vcf = REAL / "T001-BRCA.grch38.vcf.gz"
    result = import_sample(ImportInputs(vcf=str(vcf)), tumour("A2-A04W-T", "A2-A04W"), "GRCh38")
    bm = rows(result)
    assert bm["PIK3CA"]["status"] == "positive" and bm["PIK3CA"]["value"] == "p.H1047R"
    h1047 = codons_of(bm["PIK3CA"])["1047"]
    assert h1047["depth"] == 74 and abs(h1047["vaf"] - 0.419) < 0.01
    for gene in ("KRAS", "NRAS", "BRAF"):
        assert bm[gene]["status"] == "not_evaluable", bm[gene]
        assert "not tested: no coverage information" in bm[gene]["evidence"]
    v, table = verdicts(tmp_path / "no_callable", result)
    assert "candidate" not in v.values(), table[table.status == "candidate"].to_dict("records")
    # the same calls with the assay's callable regions: RAS/BRAF wild type is now a measurement
    bed = callable_bed(tmp_path, GRCH38_HOTSPOTS)
    bm = rows(import_sample(ImportInputs(vcf=str(vcf), callable=str(bed)), tumour(), "GRCh38"))
    assert {bm[g]["status"] for g in ("KRAS", "NRAS", "BRAF")} == {"negative"}
    assert bm["PIK3CA"]["status"] == "positive"


@needs_real_files
def test_real_coad_vcf_with_callable_regions_gives_ras_negative(tmp_path):
    bed = callable_bed(tmp_path, GRCH38_HOTSPOTS)
    result = import_sample(ImportInputs(vcf=str(COAD_VCF), callable=str(bed)), tumour(), "GRCh38")
    bm = rows(result)
    assert bm["KRAS"]["status"] == "negative" and bm["NRAS"]["status"] == "negative"
    assert bm["BRAF"]["status"] == "positive"
    # a callable BED with a depth below the configured floor (hotspots.depth_tiers.low = 30) is not coverage
    shallow = callable_bed(tmp_path, GRCH38_HOTSPOTS, "shallow.bed", depth=12)
    bm = rows(import_sample(ImportInputs(vcf=str(COAD_VCF), callable=str(shallow)), tumour(), "GRCh38"))
    assert bm["KRAS"]["status"] == "not_evaluable" and "depth 12 < 30" in bm["KRAS"]["evidence"]


@needs_real_files
def test_real_laml_maf_needs_a_sample_and_gives_the_listed_hotspots(tmp_path):
    """maftools TCGA-LAML MAF (GRCh37, 193 samples, no t_depth, header spelling End_position)."""
    with pytest.raises(InputError) as info:
        import_sample(ImportInputs(maf=str(LAML_MAF)), tumour(), "GRCh37")
    assert "193 samples in Tumor_Sample_Barcode" in str(info.value) and "--maf-sample" in str(info.value)
    expected = {"TCGA-AB-2865": ("KRAS", "p.G12D"), "TCGA-AB-2864": ("KRAS", "p.A59E"),
                "TCGA-AB-2966": ("KRAS", "p.A146T"), "TCGA-AB-2985": ("NRAS", "p.G12C"),
                "TCGA-AB-2870": ("NRAS", "p.Q61K")}
    for barcode, (gene, change) in expected.items():
        bm = rows(import_sample(ImportInputs(maf=str(LAML_MAF), maf_sample=barcode), tumour(), "GRCh37"))
        assert bm[gene]["status"] == "positive" and bm[gene]["value"] == change, (barcode, bm[gene])
        other = "NRAS" if gene == "KRAS" else "KRAS"
        assert bm[other]["status"] == "not_evaluable"  # no --callable: never negative
        assert codons_of(bm[gene])[change[3:-1]]["vaf"] is None  # this MAF has no read counts


@needs_real_files
def test_maf_without_callable_never_makes_a_ras_wild_type_candidate(tmp_path):
    """The issue's trap: a MAF without a KRAS record is not KRAS wild type (oncokb/oncokb#1901)."""
    result = import_sample(ImportInputs(maf=str(LAML_MAF), maf_sample="TCGA-AB-2802", cnr=str(REAL / "p2-20_1.cnr")),
                           tumour(purity=0.6), "GRCh37")
    bm = rows(result)
    assert {bm[g]["status"] for g in ("KRAS", "NRAS", "BRAF")} == {"not_evaluable"}
    v, table = verdicts(tmp_path, result)
    assert "candidate" not in v.values(), table[["trial_id", "status"]]
    ras_trials = table[table["reasons"].str.contains("wild type", case=False)]
    assert len(ras_trials) and set(ras_trials["status"]) <= {"not_evaluable", "screen_negative", "excluded"}


@needs_real_files
def test_maf_header_spellings_are_one_column(tmp_path):
    text = (DATA / "vcf2maf_test_output.vep_isoforms.maf").read_text()
    respelled = tmp_path / "respelled.maf"  # the real file with producer-style header spellings
    respelled.write_text(text.replace("Start_Position", "Start_position").replace("Chromosome", "CHROMOSOME"))
    for maf in (DATA / "vcf2maf_test_output.vep_isoforms.maf", respelled):
        bm = rows(import_sample(ImportInputs(maf=str(maf)), tumour(), "GRCh37"))
        assert bm["PIK3CA"]["value"] == "p.E545K"
        c = codons_of(bm["PIK3CA"])["545"]
        assert (c["alt_reads"], c["depth"]) == (22, 43)  # t_alt_count / t_depth


@needs_real_files
def test_vcf_tumor_normal_columns_and_multi_sample_choice(tmp_path):
    vcf = DATA / "vcf2maf_test_grch38.vcf"
    bm = rows(import_sample(ImportInputs(vcf=str(vcf)), tumour(), "GRCh38"))
    c = codons_of(bm["PIK3CA"])["545"]
    assert bm["PIK3CA"]["value"] == "p.E545K" and (c["alt_reads"], c["depth"]) == (22, 43)  # TUMOR column
    normal = rows(import_sample(ImportInputs(vcf=str(vcf), vcf_sample="NORMAL"), tumour(), "GRCh38"))
    assert normal["PIK3CA"]["status"] != "positive"  # the normal column is 0/0 there
    with pytest.raises(InputError, match="--vcf-sample 'TUMOUR' is not a sample column; columns: TUMOR, NORMAL"):
        import_sample(ImportInputs(vcf=str(vcf), vcf_sample="TUMOUR"), tumour(), "GRCh38")


@needs_real_files
def test_build_mismatch_is_named(tmp_path):
    with pytest.raises(InputError, match="MAF .* is on GRCh37 but --build is GRCh38; fix: give --build GRCh37"):
        import_sample(ImportInputs(maf=str(LAML_MAF), maf_sample="TCGA-AB-2865"), tumour(), "GRCh38")


@needs_real_files
def test_gvcf_reference_blocks_are_coverage_at_the_configured_depth(tmp_path):
    """SYNTHETIC gVCF (GRCh38): blocks over KRAS at MIN_DP 100, over NRAS at MIN_DP 12, nothing over BRAF."""
    h = pd.read_csv(GRCH38_HOTSPOTS, sep="\t")
    def block(gene, min_dp):
        sub = h[h.gene == gene]
        lo, hi = int(sub[["pos1", "pos3"]].min().min()), int(sub[["pos1", "pos3"]].max().max())
        chrom = sub.chrom.iloc[0]
        return f"{chrom}\t{lo}\t.\tN\t<NON_REF>\t.\t.\tEND={hi}\tGT:DP:MIN_DP\t0/0:{min_dp + 5}:{min_dp}\n"
    gvcf = tmp_path / "s.g.vcf"
    gvcf.write_text("##fileformat=VCFv4.2\n##contig=<ID=chr12>\n##contig=<ID=chr1>\n"
                    '##ALT=<ID=NON_REF,Description="any other allele">\n'
                    '##INFO=<ID=END,Number=1,Type=Integer,Description="end">\n'
                    '##FORMAT=<ID=GT,Number=1,Type=String,Description="GT">\n'
                    '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="DP">\n'
                    '##FORMAT=<ID=MIN_DP,Number=1,Type=Integer,Description="min DP">\n'
                    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS\n"
                    + block("NRAS", 12) + block("KRAS", 100))
    bm = rows(import_sample(ImportInputs(vcf=str(gvcf)), tumour(), "GRCh38"))
    assert bm["KRAS"]["status"] == "negative" and "depth 100 >= 30" in bm["KRAS"]["evidence"]
    assert bm["NRAS"]["status"] == "not_evaluable" and "depth 12 < 30" in bm["NRAS"]["evidence"]
    assert bm["BRAF"]["status"] == "not_evaluable"
    # the same blocks as --callable beside a variant file
    bm = rows(import_sample(ImportInputs(vcf=str(COAD_VCF), callable=str(gvcf)), tumour(), "GRCh38"))
    assert bm["KRAS"]["status"] == "negative" and bm["BRAF"]["value"] == "p.V600E"


@needs_real_files
def test_plasma_absence_needs_tumour_dna(tmp_path):
    bed = callable_bed(tmp_path, GRCH37_HOTSPOTS)
    maf = str(LAML_MAF)
    no_hotspot = ImportInputs(maf=maf, maf_sample="TCGA-AB-2802", callable=str(bed))
    bm = rows(import_sample(no_hotspot, tumour(sample_type="plasma"), "GRCh37"))
    assert bm["KRAS"]["status"] == "not_evaluable" and "no ctDNA detected" in bm["KRAS"]["evidence"]
    bm = rows(import_sample(no_hotspot, tumour(sample_type="plasma", purity=0.1), "GRCh37"))
    assert bm["KRAS"]["status"] == "negative"
    bm = rows(import_sample(ImportInputs(maf=maf, maf_sample="TCGA-AB-2865", callable=str(bed)),
                            tumour(sample_type="plasma"), "GRCh37"))
    assert bm["KRAS"]["value"] == "p.G12D" and bm["NRAS"]["status"] == "negative"  # tumour DNA shown by G12D


# --------------------------------------------------------------------------------------------- codons
def _two_snv_vcf(path, chrom, pos_a, pos_b, ref_a, ref_b, alt):
    """SYNTHETIC VCF: two SNV records in one codon (as a caller without MNV merging writes them)."""
    path.write_text("##fileformat=VCFv4.2\n"
                    f"##contig=<ID={chrom}>\n"
                    '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">\n'
                    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tT\n"
                    f"{chrom}\t{pos_a}\t.\t{ref_a}\t{alt}\t.\tPASS\t.\tAD\t80,40\n"
                    f"{chrom}\t{pos_b}\t.\t{ref_b}\t{alt}\t.\tPASS\t.\tAD\t81,39\n")
    return path


def test_two_snvs_in_one_codon_are_one_protein_change(tmp_path, cohort_dir):
    ref = cohort_dir / "reference"
    h = pd.read_csv(ref / "hotspots.tsv", sep="\t")
    g12 = h[(h.gene == "KRAS") & (h.codon == 12)].iloc[0]  # '-' strand: c.34 = pos1, c.35 = pos2
    import pysam

    with pysam.FastaFile(str(ref / "genome.fa")) as fa:
        b1, b2 = (fa.fetch(g12.chrom, p - 1, p) for p in (g12.pos1, g12.pos2))
    vcf = _two_snv_vcf(tmp_path / "g12.vcf", g12.chrom, g12.pos2, g12.pos1, b2, b1, "A")  # c.34G>T + c.35G>T
    result = import_sample(ImportInputs(vcf=str(vcf)), tumour(), "custom", fasta=str(ref / "genome.fa"),
                           hotspots=str(ref / "hotspots.tsv"))
    bm = rows(result)
    assert bm["KRAS"]["value"] == "p.G12F", bm["KRAS"]
    row = result["hotspots"][(result["hotspots"].gene == "KRAS") & (result["hotspots"].codon == 12)].iloc[0]
    assert row["hgvs_c"] == "c.34_35delinsTT" and "assumed in cis" in row["reason"]
    # without the reference codon the amino acid is not guessed (GGN -> TTN is F or L)
    bm = rows(import_sample(ImportInputs(vcf=str(vcf)), tumour(), "custom", hotspots=str(ref / "hotspots.tsv")))
    assert bm["KRAS"]["status"] == "not_evaluable" and "--fasta" in bm["KRAS"]["evidence"]


# --------------------------------------------------------------------------------------------- copy number
def test_real_cnvkit_files_through_the_copy_number_stage():
    """CNVkit's own test files (tests/data/real/PROVENANCE.md): p2-20 is not amplified; the noisy amplicon
    profile must not give a confident ERBB2 amplification."""
    bm = rows(import_sample(ImportInputs(cnr=str(REAL / "p2-20_1.cnr")), tumour(purity=0.7), "GRCh37"))
    assert bm["ERBB2_CN"]["status"] == "negative" and bm["ERBB3_CN"]["status"] == "negative"
    assert json.loads(bm["ERBB2_CN"]["details"])["bins"] >= 20
    bm = rows(import_sample(ImportInputs(cnr=str(REAL / "amplicon.cnr"), cns=str(REAL / "amplicon.cns")),
                            tumour(purity=0.7), "GRCh37"))
    assert bm["ERBB2_CN"]["status"] != "positive"


@needs_real_files
def test_purple_gene_file_absent_gene_is_not_evaluable_and_calls(tmp_path):
    real = DATA / "gpgr_v2.39_purple.cnv.gene.tsv"  # real PURPLE v2.39 output; covers chr1 genes only
    bm = rows(import_sample(ImportInputs(purple_gene_cn=str(real)), tumour(), "GRCh38"))
    assert bm["ERBB2_CN"]["status"] == "not_evaluable" and "not in the copy-number file" in bm["ERBB2_CN"]["evidence"]
    header = real.read_text().splitlines()[0]
    synthetic = tmp_path / "purple.cnv.gene.tsv"  # SYNTHETIC rows in the real file's column layout
    cols = header.split("\t")
    def line(gene, lo, hi):
        vals = {"chromosome": "chr17", "start": "39688094", "end": "39728658", "gene": gene, "minCopyNumber": lo,
                "maxCopyNumber": hi}
        return "\t".join(vals.get(c, "0") for c in cols)
    synthetic.write_text("\n".join([header, line("ERBB2", "14.2", "15.0"), line("ERBB3", "4.1", "7.3")]) + "\n")
    bm = rows(import_sample(ImportInputs(purple_gene_cn=str(synthetic)), tumour(), "GRCh38"))
    assert bm["ERBB2_CN"]["status"] == "positive" and json.loads(bm["ERBB2_CN"]["details"])["call"] == "amplification"
    assert bm["ERBB3_CN"]["status"] == "not_evaluable" and "straddles" in bm["ERBB3_CN"]["evidence"]


# --------------------------------------------------------------------------------------------- fusions
@needs_real_files
@pytest.mark.parametrize("name", ["arriba_test_fusions.tsv", "star-fusion_BT474.abridged.FFPM.tsv"])
def test_real_rna_fusion_outputs_without_nrg1(name):
    path = str(DATA / name)
    declared = rows(import_sample(ImportInputs(fusions=path, fusion_assay="rna"), tumour(), "GRCh38"))
    assert declared["NRG1_FUSION"]["status"] == "negative"
    undeclared = rows(import_sample(ImportInputs(fusions=path), tumour(), "GRCh38"))
    assert undeclared["NRG1_FUSION"]["status"] == "not_evaluable"
    assert "--fusion-assay" in undeclared["NRG1_FUSION"]["evidence"]


@needs_real_files
def test_real_delly_breakends_parse_and_dna_assay_rule():
    path = str(DATA / "vcf2maf_test_delly.vcf")
    result = import_sample(ImportInputs(fusions=path, fusion_assay="dna-nrg1-introns"), tumour(), "GRCh37")
    assert rows(result)["NRG1_FUSION"]["status"] == "negative"
    from erbbscreen.importer.fusions import read_vcf_breakends

    junctions = read_vcf_breakends(path)
    assert len(junctions) == 7  # the PASS records; a BND and its mate record are one junction
    assert all(j.keep_a in ("L", "R") and j.keep_b in ("L", "R") for j in junctions)


@needs_real_files
def test_nrg1_fusion_from_arriba_and_breakends(tmp_path):
    """SYNTHETIC CD74-NRG1 records on GRCh38 (NRG1 + strand, CD74 - strand: both keep the right-hand side)."""
    arriba = tmp_path / "fusions.tsv"
    header = (DATA / "arriba_test_fusions.tsv").read_text().splitlines()[0]  # the real file's column layout
    values = {"#gene1": "CD74", "gene2": "NRG1", "strand1(gene/fusion)": "-/-", "strand2(gene/fusion)": "+/+",
              "breakpoint1": "5:150404000", "breakpoint2": "8:32600000", "type": "translocation",
              "split_reads1": "12", "split_reads2": "9", "discordant_mates": "20", "confidence": "high",
              "reading_frame": "in-frame"}
    arriba.write_text(header + "\n" + "\t".join(values.get(c, ".") for c in header.split("\t")) + "\n")
    result = import_sample(ImportInputs(fusions=str(arriba), fusion_assay="rna"), tumour(), "GRCh38")
    nrg1 = rows(result)["NRG1_FUSION"]
    assert nrg1["status"] == "positive" and nrg1["value"] == "CD74-NRG1"
    d = json.loads(nrg1["details"])
    assert d["partner"] == "CD74" and d["frame"] == "in_frame" and d["split_reads"] == 21
    assert result["fusions"].iloc[0]["gene_5p"] == "CD74"

    def bnd(alt):
        path = tmp_path / "sv.vcf"
        path.write_text("##fileformat=VCFv4.2\n##contig=<ID=chr5>\n##contig=<ID=chr8>\n"
                        '##INFO=<ID=SVTYPE,Number=1,Type=String,Description="type">\n'
                        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                        f"chr5\t150404000\tbnd1\tN\t{alt}\t.\tPASS\tSVTYPE=BND\n")
        return import_sample(ImportInputs(fusions=str(path), fusion_assay="dna-nrg1-introns"), tumour(), "GRCh38")
    good = rows(bnd("[chr8:32600000[N"))["NRG1_FUSION"]
    assert good["status"] == "positive" and json.loads(good["details"])["partner"] == "CD74"
    wrong = bnd("N]chr8:32600000]")  # CD74 keeps left, NRG1 keeps left: no CD74-5'/NRG1-3' transcript
    assert rows(wrong)["NRG1_FUSION"]["status"] == "negative"


def test_bedpe_in_the_workflows_own_convention(tmp_path):
    """SYNTHETIC BEDPE as the fusion stage writes it (strand '-' = the right-hand side is kept)."""
    bedpe = tmp_path / "s.bedpe"
    bedpe.write_text("#chrom1\tstart1\tend1\tchrom2\tstart2\tend2\tname\tscore\tstrand1\tstrand2\tsample_id\t"
                     "split_reads\tdiscordant_pairs\n"
                     "chr5\t150403999\t150404000\tchr8\t32599999\t32600000\tCD74-NRG1|E1\t9\t-\t-\tS\t4\t5\n")
    result = import_sample(ImportInputs(fusions=str(bedpe), fusion_assay="dna-nrg1-introns"), tumour(), "GRCh38")
    nrg1 = rows(result)["NRG1_FUSION"]
    assert nrg1["status"] == "positive" and json.loads(nrg1["details"])["split_reads"] == 4
    assert result["fusions"].iloc[0]["location_3p"].startswith("NRG1 intron")


# --------------------------------------------------------------------------------------------- contract
@needs_real_files
def test_informational_rows_never_change_a_verdict(tmp_path):
    result = import_sample(ImportInputs(vcf=str(COAD_VCF), cnr=str(REAL / "p2-20_1.cnr")), tumour(purity=0.5),
                           "GRCh38")
    info = result["biomarkers"][result["biomarkers"].biomarker.str.endswith("_OTHER_VARIANTS")]
    assert len(info) >= 1 and set(info["status"]) == {"positive"}
    with_info, _ = verdicts(tmp_path / "a", result)
    result["biomarkers"] = result["biomarkers"].drop(info.index)
    without, _ = verdicts(tmp_path / "b", result)
    assert with_info == without


@needs_real_files
def test_cli_writes_every_table_and_names_bad_input(tmp_path, capsys):
    out = tmp_path / "out"
    rc = import_main(["--patient", "A6-2686", "--sample", "A6-2686-T", "--type", "tumor", "--build", "GRCh38",
                      "--vcf", str(COAD_VCF), "--out-dir", str(out)])
    assert rc == 0
    for name in ("biomarkers", "hotspots", "copy_number", "fusions", "variants", "qc"):
        assert (out / f"{name}.tsv").is_file()
    bm = read_table(out / "biomarkers.tsv")
    assert list(bm.columns[:7]) == ["patient_id", "sample_id", "sample_type", "biomarker", "status", "value",
                                    "evidence"]
    assert set(bm["biomarker"]) >= {"KRAS", "NRAS", "BRAF", "PIK3CA", "TUMOR_FRACTION", "ERBB2_CN", "ERBB3_CN",
                                    "NRG1_FUSION"}
    rc = import_main(["--patient", "P", "--sample", "S", "--type", "tumor", "--build", "GRCh38",
                      "--vcf", str(COAD_VCF), "--maf", str(LAML_MAF), "--out-dir", str(out)])
    assert rc == 1 and "--vcf and --maf both given" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------- sheet mode
def _sheet(tmp_path, rows_, extra_cols=("vcf", "cnr", "callable", "fusions", "fusion_assay")):
    header = ["patient_id", "sample_id", "sample_type", "bam", "purity", *extra_cols]
    path = tmp_path / "samples.tsv"
    path.write_text("\t".join(header) + "\n" + "".join("\t".join(r) + "\n" for r in rows_))
    return path


def test_sheet_rows_of_result_files_are_validated(tmp_path):
    path = _sheet(tmp_path, [["P1", "P1-T", "tumor", "x.bam", "", "a.vcf", "", "", "", ""],
                             ["P2", "P2-N", "normal", "", "", "b.vcf", "", "", "", ""],
                             ["P3", "P3-T", "tumor", "", "", "", "", "", "f.tsv", "dna"]])
    with pytest.raises(InputError) as info:
        load_samplesheet(path)
    text = str(info.value)
    assert "line 2: both 'bam' and result-file column(s) vcf are filled" in text
    assert "line 3, column 'sample_type': imported results must be tumor or plasma" in text
    assert "line 4, column 'fusion_assay': 'dna' is not allowed" in text
    ok = _sheet(tmp_path, [["P1", "P1-T", "tumor", "", "0.5", "missing.vcf", "", "", "", ""]])
    df = load_samplesheet(ok)
    assert bool(df.loc["P1-T", "imported"]) and df.loc["P1-T", "bam"] == ""
    assert df.loc["P1-T", "vcf"] == str(tmp_path / "missing.vcf")
    assert any("missing.vcf not found" in p for p in check_sheet_row(df.loc["P1-T"], "custom"))


def _synthetic_cohort_vcf(path, cohort_dir):
    """SYNTHETIC VCF on the synthetic cohort genome: KRAS G12 c.35G>A (p.G12D) at VAF 0.3."""
    h = pd.read_csv(cohort_dir / "reference" / "hotspots.tsv", sep="\t")
    g12 = h[(h.gene == "KRAS") & (h.codon == 12)].iloc[0]
    import pysam

    with pysam.FastaFile(str(cohort_dir / "reference" / "genome.fa")) as fa:
        base = fa.fetch(g12.chrom, g12.pos2 - 1, g12.pos2)
    alt = {"C": "T", "G": "A"}[base]  # c.35G>A on either strand
    path.write_text("##fileformat=VCFv4.2\n"
                    f"##contig=<ID={g12.chrom}>\n"
                    '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">\n'
                    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tX\n"
                    f"{g12.chrom}\t{g12.pos2}\t.\t{base}\t{alt}\t.\tPASS\t.\tAD\t140,60\n")


def test_sheet_of_imported_rows_runs_import_eligibility_report(tmp_path, cohort_dir):
    _synthetic_cohort_vcf(tmp_path / "x01.vcf", cohort_dir)
    callable_bed(tmp_path, cohort_dir / "reference" / "hotspots.tsv")
    shutil.copy(REAL / "p2-20_1.cnr", tmp_path / "x01.cnr")
    # SYNTHETIC RNA fusion-caller output with one non-NRG1 fusion (chr5-chr11 of the cohort genome)
    (tmp_path / "x02.fusions.bedpe").write_text(
        "#chrom1\tstart1\tend1\tchrom2\tstart2\tend2\tname\tscore\tstrand1\tstrand2\n"
        "chr5\t140999\t141000\tchr11\t150999\t151000\tCD74-SLC3A2\t9\t+\t-\n")
    sheet = _sheet(tmp_path, [["X01", "X01-T", "tumor", "", "0.6", "x01.vcf", "x01.cnr", "callable.bed", "", ""],
                              ["X02", "X02-T", "tumor", "", "", "", "", "", "x02.fusions.bedpe", "rna"],
                              ["X03", "X03-T", "tumor", "", "", "absent.vcf", "", "", "", ""]])
    cfg = cohort_config(tmp_path)
    config = yaml.safe_load(cfg.read_text())
    config["samples"] = str(sheet)
    cfg.write_text(yaml.safe_dump(config))
    proc = run_snakemake(tmp_path, "--cores", "2", configfile=cfg)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    bm = read_table(tmp_path / "results" / "tables" / "biomarkers.tsv")
    got = {(r.sample_id, r.biomarker): (r.status, r.value) for r in bm.itertuples()}
    assert got[("X01-T", "KRAS")] == ("positive", "p.G12D")
    assert got[("X01-T", "NRAS")][0] == "negative" and got[("X01-T", "ERBB2_CN")][0] == "negative"
    assert got[("X02-T", "NRG1_FUSION")][0] == "negative" and got[("X02-T", "KRAS")][0] == "not_evaluable"
    assert {s for (sid, _), (s, _) in got.items() if sid == "X03-T"} == {"not_evaluable"}
    qc = read_table(tmp_path / "results" / "tables" / "qc.tsv").set_index("sample_id")
    assert qc.loc["X01-T", "status"] == "pass" and qc.loc["X03-T", "status"] == "fail"
    assert "absent.vcf not found" in qc.loc["X03-T", "reasons"]
    el = read_table(tmp_path / "results" / "tables" / "eligibility.tsv")
    assert set(el["patient_id"]) == {"X01", "X02", "X03"}
    assert "candidate" not in set(el[el.patient_id.isin(["X02", "X03"])]["status"])
    assert (tmp_path / "results" / "report" / "report.html").is_file()
    assert not (tmp_path / "results" / "preflight").exists()  # no BAM stage ran for imported rows


def test_mixed_sheet_dry_run_keeps_imported_rows_out_of_bam_stages(tmp_path, cohort_dir):
    _synthetic_cohort_vcf(tmp_path / "x01.vcf", cohort_dir)
    cohort = (cohort_dir / "samples.tsv").read_text().splitlines()
    lines = [cohort[0] + "\tvcf"]
    for line in cohort[1:]:
        f = line.split("\t")
        f[3] = str(cohort_dir / f[3])
        lines.append("\t".join(f) + "\t")
    lines.append("X01\tX01-T\ttumor\t\t0.6\tx01.vcf")
    sheet = tmp_path / "samples.tsv"
    sheet.write_text("\n".join(lines) + "\n")
    cfg = cohort_config(tmp_path)
    config = yaml.safe_load(cfg.read_text())
    config["samples"] = str(sheet)
    config["batching"] = {"samples_per_job": 1}   # one job per sample: the job counts name the samples' stages
    cfg.write_text(yaml.safe_dump(config))
    proc = run_snakemake(tmp_path, "-n", "--quiet", "rules", configfile=cfg)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    counts = dict(line.split()[:2] for line in proc.stdout.splitlines()
                  if len(line.split()) == 2 and line.split()[1].isdigit())

    def jobs(stage):
        return sum(int(n) for rule, n in counts.items() if rule.startswith(f"{stage}_b"))

    n_bam = len(cohort) - 1
    n_normal = sum(line.split("\t")[2] == "normal" for line in cohort[1:])
    assert counts["import_results"] == "1" and jobs("preflight_qc") == n_bam
    # hotspots: normals are counted alone (the background), tumour/plasma count + call in one job
    assert jobs("hotspots_count") == n_normal and jobs("hotspots_call") == n_bam - n_normal
