"""NRG1 fusion stage: small BAMs built here with pysam from known molecules, table-driven annotation logic, and the
simulated cohort (tests/cohort/data, skipped when it has not been generated)."""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pysam
import pytest
import yaml

from erbbscreen import fusions as F
from erbbscreen.annotation import Transcript, read_domains, read_transcripts, revcomp
from erbbscreen.tables import COLUMNS, read_table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "data" / "fusions"))
from simbam import SimBam, bed12_line, random_genome, write_fasta  # noqa: E402

# ---------------------------------------------------------------------------------------------------------------
# a small synthetic genome: NRG1 (+) on chrA, CD74 (-) on chrB, an unlisted gene NOVL (+) on chrC, nothing on chrD
# ---------------------------------------------------------------------------------------------------------------

NRG1_EXONS = [(2000, 2200), (3500, 3600), (5000, 5100), (6500, 6700), (8000, 8500)]
CD74_EXONS = [(1000, 1300), (2500, 2600), (4000, 4100), (5500, 5600), (7000, 7300)]
W = 1500                      # bp of each side in a fusion molecule
NRG1_BP = 4200                # NRG1 intron 2 (3600-5000), 5' of the EGF-like exon 4
CD74_BP = 4800                # CD74 intron 2 (4100-5500) in transcript order
CD74_NRG1 = [("chrB", CD74_BP, CD74_BP + W, "-"), ("chrA", NRG1_BP, NRG1_BP + W, "+")]
# the reciprocal product of the same balanced translocation: NRG1 5' / CD74 3'
NRG1_CD74 = [("chrA", NRG1_BP - W, NRG1_BP, "+"), ("chrB", CD74_BP - W, CD74_BP, "-")]
SPLIT_OFFSETS = [30, 45, 50, 60, 70]          # junction inside read 1, both parts >= 20 bp: SA-tagged split reads
PAIR_OFFSETS = [120, 150, 180]                # junction between the reads: discordant pairs
CLIP_OFFSETS = [15, 85]                        # 15-bp part: soft clip without SA (gene side, partner side)


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    d = tmp_path_factory.mktemp("fusref")
    genome = random_genome({"chrA": 12000, "chrB": 10000, "chrC": 10000, "chrD": 10000}, seed=3)
    fasta = write_fasta(genome, d / "ref.fa")
    tx = d / "tx.bed12"
    tx.write_text("\n".join([
        bed12_line("NRG1", "chrA", "+", NRG1_EXONS, (2100, 8300), "ENST_NRG1"),
        bed12_line("CD74", "chrB", "-", CD74_EXONS, (1200, 7100), "ENST_CD74"),
        bed12_line("NOVL", "chrC", "+", [(1000, 1200), (3000, 3100), (6000, 6500)], (1100, 6200), "ENST_NOVL"),
    ]) + "\n")
    dom = d / "domains.bed"
    dom.write_text("chrA\t6520\t6680\tNRG1:EGF_like\t0\t+\n")
    return {"dir": d, "genome": genome, "fasta": fasta, "tx": tx, "domains": dom}


def build(ref, path, molecules=(), introns=True, depth=30, dup_fraction=0.0, seed=5):
    """BAM with background pairs (whole contigs, or NRG1 exons only when introns=False) plus fusion fragments.

    molecules: list of (segments, offsets, kwargs) -- fragments start ``offset`` bp before the junction (at W).
    """
    sb = SimBam(ref["genome"], seed=seed)
    if introns:
        for c in ("chrA", "chrB", "chrC", "chrD"):
            sb.background(c, 0, len(ref["genome"][c]), depth, dup_fraction=dup_fraction)
    else:
        for s, e in NRG1_EXONS:
            sb.background("chrA", s - 50, e + 50, depth, dup_fraction=dup_fraction)
    names = []
    for segments, offsets, kw in molecules:
        names += sb.add_fragments_across(segments, W, offsets, **kw)
    return sb.write(path), names


def detect(ref, bam, **settings):
    return F.detect(bam, read_transcripts(ref["tx"]), read_domains(ref["domains"]), ref["fasta"], settings or None)


# ---------------------------------------------------------------------------------------------------------------
# read-level detection
# ---------------------------------------------------------------------------------------------------------------


def test_split_reads_and_pairs_give_annotated_candidate(ref, tmp_path):
    bam, _ = build(ref, tmp_path / "s.bam", [(CD74_NRG1, SPLIT_OFFSETS + PAIR_OFFSETS, {})])
    r = detect(ref, bam)
    assert r.status == "positive", r.reason
    assert len(r.fusions) == 1
    f = r.fusions[0]
    assert (f["gene_5p"], f["gene_3p"]) == ("CD74", "NRG1")
    assert (f["chrom_5p"], f["pos_5p"], f["chrom_3p"], f["pos_3p"]) == ("chrB", CD74_BP + 1, "chrA", NRG1_BP + 1)
    assert (f["split_reads"], f["discordant_pairs"]) == (5, 3)
    assert f["partner_status"] == "known" and "JONNA" in f["partner_source"]
    assert f["location_5p"] == "CD74 intron 2" and f["location_3p"] == "NRG1 intron 2"
    assert f["egf_domain_retained"] == "yes"
    assert f["frame"] in ("in_frame", "out_of_frame")
    assert f["orientation"].startswith("CD74(-) 5' / NRG1(+) 3'")
    assert f["evidence"] == "DNA-level candidate; RNA confirmation required"
    assert f["reciprocal"] == "no"
    assert f["junction_precision"] == "precise"


def test_frame_in_table_matches_exon_phases(ref, tmp_path):
    bam, _ = build(ref, tmp_path / "s.bam", [(CD74_NRG1, SPLIT_OFFSETS, {})])
    f = detect(ref, bam).fusions[0]
    tx = read_transcripts(ref["tx"])
    end_phase = tx["CD74"].coding_exon_phases()[1][1]       # last kept CD74 exon = 2 (breakpoint in intron 2)
    start_phase = tx["NRG1"].coding_exon_phases()[2][0]     # first kept NRG1 exon = 3
    assert f["frame"] == ("in_frame" if end_phase == start_phase else "out_of_frame")
    assert f"exon 2 end phase {end_phase}" in f["frame_basis"]


def test_soft_clips_without_sa_are_rescued(ref, tmp_path):
    bam, _ = build(ref, tmp_path / "s.bam", [(CD74_NRG1, [30] + CLIP_OFFSETS + [16, 84], {})])
    r = detect(ref, bam)
    ev = r.events[0]
    assert ev["split_from_soft_clips"] == 4
    assert r.fusions[0]["split_reads"] == 5


def test_discordant_pairs_plus_soft_clips_find_the_junction(ref, tmp_path):
    bam, _ = build(ref, tmp_path / "s.bam", [(CD74_NRG1, PAIR_OFFSETS + CLIP_OFFSETS, {})])
    r = detect(ref, bam)
    assert r.status == "positive", r.reason
    f = r.fusions[0]
    assert (f["pos_5p"], f["pos_3p"]) == (CD74_BP + 1, NRG1_BP + 1)
    assert f["junction_precision"] == "precise"


def test_discordant_pairs_alone_stay_below_threshold(ref, tmp_path):
    bam, _ = build(ref, tmp_path / "s.bam", [(CD74_NRG1, PAIR_OFFSETS, {})])
    r = detect(ref, bam)
    assert r.status == "negative"
    assert r.events[0]["precise"] == "no"
    assert "support below threshold" in r.events[0]["verdict"]


@dataclass
class Support:
    name: str
    offsets: list
    expected: str


@pytest.mark.parametrize("case", [
    Support("one split read", [40], "negative"),
    Support("one split + one pair", [40, 150], "negative"),
    Support("two split reads", [40, 60], "positive"),
    Support("one split + two pairs", [40, 130, 170], "positive"),
], ids=lambda c: c.name)
def test_support_rule(ref, tmp_path, case):
    bam, _ = build(ref, tmp_path / "s.bam", [(CD74_NRG1, case.offsets, {})])
    assert detect(ref, bam).status == case.expected


def test_flagged_duplicates_do_not_inflate_support(ref, tmp_path):
    sb = SimBam(ref["genome"], seed=5)
    for c in ("chrA", "chrB"):
        sb.background(c, 0, len(ref["genome"][c]), 30, dup_fraction=0.1)
    for o in [40, 60]:
        name = sb.add_fragment(CD74_NRG1, W - o, 300)
        for k in range(4):
            sb.add_fragment(CD74_NRG1, W - o, 300, name=f"{name}_d{k}", duplicate_of=name)
    bam = sb.write(tmp_path / "s.bam")
    f = detect(ref, bam).fusions[0]
    assert f["split_reads"] == 2
    # the same BAM without the duplicate filter counts every copy: the filter is what keeps support honest
    r = detect(ref, bam, exclude_duplicates=False, collapse_identical_fragments="never")
    assert r.fusions[0]["split_reads"] == 10


def test_unflagged_duplicates_collapse_by_fragment_coordinates(ref, tmp_path):
    sb = SimBam(ref["genome"], seed=5)
    for c in ("chrA", "chrB"):
        sb.background(c, 0, len(ref["genome"][c]), 30)
    for o in [40, 60]:
        name = sb.add_fragment(CD74_NRG1, W - o, 300)
        for k in range(3):
            sb.add_fragment(CD74_NRG1, W - o, 300, name=f"{name}_copy{k}", duplicate_of=name, dup_flag=False)
    bam = sb.write(tmp_path / "s.bam")
    assert detect(ref, bam).fusions[0]["split_reads"] == 2           # auto: no duplicate flags in the BAM
    assert detect(ref, bam, collapse_identical_fragments="never").fusions[0]["split_reads"] == 8


def test_pair_with_split_read_counts_once(ref, tmp_path):
    # offset 250: read 2 carries the junction; read 1 lies in CD74 -> the fragment is split AND spanning
    bam, _ = build(ref, tmp_path / "s.bam", [(CD74_NRG1, [250, 40], {})])
    f = detect(ref, bam).fusions[0]
    assert (f["split_reads"], f["discordant_pairs"], f["unique_fragments"]) == (2, 0, 2)


@pytest.mark.parametrize("segments,label", [
    (NRG1_CD74, "NRG1 5' / CD74 3' (reciprocal product only)"),
    ([("chrB", CD74_BP - W, CD74_BP, "+"), ("chrA", NRG1_BP, NRG1_BP + W, "+")], "antisense CD74 joined to NRG1 3'"),
    ([("chrB", CD74_BP, CD74_BP + W, "-"), ("chrA", NRG1_BP - W, NRG1_BP, "-")], "CD74 5' joined to antisense NRG1"),
], ids=["reciprocal-only", "antisense-partner", "antisense-nrg1"])
def test_wrong_orientation_rejected(ref, tmp_path, segments, label):
    bam, _ = build(ref, tmp_path / "s.bam", [(segments, SPLIT_OFFSETS + PAIR_OFFSETS, {})])
    r = detect(ref, bam)
    assert r.status == "negative", label
    assert r.fusions == []
    assert r.events and all("orientation cannot make" in e["verdict"] for e in r.events)


def test_reciprocal_reported(ref, tmp_path):
    bam, _ = build(ref, tmp_path / "s.bam", [(CD74_NRG1, SPLIT_OFFSETS, {}), (NRG1_CD74, [40, 60, 150], {})])
    r = detect(ref, bam)
    assert len(r.fusions) == 1
    f = r.fusions[0]
    assert f["reciprocal"].startswith("yes")
    assert "2 split, 1 discordant" in f["reciprocal"]


def test_novel_partner_named_from_bed12(ref, tmp_path):
    novl = [("chrC", 3500 - W, 3500, "+"), ("chrA", NRG1_BP, NRG1_BP + W, "+")]
    bam, _ = build(ref, tmp_path / "s.bam", [(novl, SPLIT_OFFSETS, {})])
    f = detect(ref, bam).fusions[0]
    assert (f["gene_5p"], f["partner_status"], f["location_5p"]) == ("NOVL", "novel", "NOVL intron 2")
    assert f["pos_5p"] == 3500


def test_intergenic_partner(ref, tmp_path):
    mol = [("chrD", 5000 - W, 5000, "+"), ("chrA", NRG1_BP, NRG1_BP + W, "+")]
    bam, _ = build(ref, tmp_path / "s.bam", [(mol, SPLIT_OFFSETS, {})])
    f = detect(ref, bam).fusions[0]
    assert f["gene_5p"] == "intergenic:chrD:5000"
    assert f["partner_status"] == "novel" and f["frame"] == "unknown"


def test_low_mapq_evidence_ignored(ref, tmp_path):
    bam, _ = build(ref, tmp_path / "s.bam", [(CD74_NRG1, SPLIT_OFFSETS + PAIR_OFFSETS, {"mapq": 3, "supp_mapq": 3})])
    r = detect(ref, bam)
    assert r.status == "negative" and r.fusions == []
    assert detect(ref, bam, min_mapq=0).status == "positive"


def test_no_intron_coverage_is_not_evaluable(ref, tmp_path):
    bam, _ = build(ref, tmp_path / "s.bam", introns=False, depth=100)
    r = detect(ref, bam)
    assert r.status == "not_evaluable"
    assert "introns not covered" in r.reason and "NRG1 introns 1,2,3" in r.reason
    assert r.coverage_fraction < 0.3         # only the shoulders of exon capture reach the introns
    cov = {c["intron"]: c for c in r.intron_coverage}
    assert cov[4]["used_for_evaluability"] == "no"      # 3' of the EGF-like exon


def test_covered_introns_without_event_are_negative(ref, tmp_path):
    bam, _ = build(ref, tmp_path / "s.bam")
    r = detect(ref, bam)
    assert r.status == "negative"
    assert r.reason.startswith("looked:")
    assert r.coverage_fraction > 0.9


def test_configured_introns_override(ref, tmp_path):
    sb = SimBam(ref["genome"], seed=5)
    sb.background("chrA", 2000, 3700, 40)          # only intron 1 (2200-3500) covered
    bam = sb.write(tmp_path / "s.bam")
    assert detect(ref, bam).status == "not_evaluable"
    assert detect(ref, bam, evaluable_introns=[1]).status == "negative"


def test_cram_input(ref, tmp_path):
    bam, _ = build(ref, tmp_path / "s.bam", [(CD74_NRG1, SPLIT_OFFSETS + PAIR_OFFSETS, {})])
    cram = tmp_path / "s.cram"
    pysam.view("-C", "-T", str(ref["fasta"]), "-o", str(cram), str(bam), catch_stdout=False)
    pysam.index(str(cram))
    f = detect(ref, cram).fusions[0]
    assert (f["pos_5p"], f["pos_3p"], f["split_reads"], f["discordant_pairs"]) == (CD74_BP + 1, NRG1_BP + 1, 5, 3)


def test_missing_contig_is_not_evaluable(ref, tmp_path):
    genome = {"chrZ": ref["genome"]["chrD"]}
    sb = SimBam(genome)
    sb.background("chrZ", 0, 5000, 10)
    bam = sb.write(tmp_path / "s.bam")
    r = detect(ref, bam)
    assert r.status == "not_evaluable" and "chrA" in r.reason


def test_nrg1_absent_from_annotation_or_reference_is_not_evaluable(ref, tmp_path):
    """Partial references (issue #13): no NRG1 in the BED12, or its contig missing or all N, never raises."""
    sb = SimBam({"chrB": ref["genome"]["chrB"]})
    sb.background("chrB", 0, 5000, 10)
    bam = sb.write(tmp_path / "s.bam")
    no_nrg1 = {g: t for g, t in read_transcripts(ref["tx"]).items() if g != "NRG1"}
    r = F.detect(bam, no_nrg1, None, ref["fasta"], None)
    assert r.status == "not_evaluable" and "NRG1 not in the annotation/reference" in r.reason
    r = detect(ref, bam)                                     # chrA (NRG1) not in this alignment's header
    assert r.status == "not_evaluable" and "NRG1 not in the annotation/reference" in r.reason
    assert "chrA" in r.reason
    # a mostly-N reference: NRG1's contig is there, its sequence is not
    genome = dict(ref["genome"], chrA="N" * len(ref["genome"]["chrA"]))
    fasta = write_fasta(genome, tmp_path / "n.fa")
    sb = SimBam(ref["genome"])
    sb.background("chrB", 0, 5000, 10)
    bam = sb.write(tmp_path / "n.bam")
    r = F.detect(bam, read_transcripts(ref["tx"]), read_domains(ref["domains"]), fasta, None)
    assert r.status == "not_evaluable" and "all N" in r.reason
    # the alignment knows chrA (full header) but the reference holds only some chromosomes
    part = write_fasta({c: q for c, q in ref["genome"].items() if c != "chrA"}, tmp_path / "part.fa")
    r = F.detect(bam, read_transcripts(ref["tx"]), read_domains(ref["domains"]), part, None)
    assert r.status == "not_evaluable" and "not in the reference FASTA" in r.reason


def test_annotation_contig_names_follow_the_alignment(ref, tmp_path):
    """A b37-style BED12 ('A' for 'chrA') against a UCSC-style alignment still finds NRG1 (bundled GRCh37 vs hg19)."""
    bed = tmp_path / "b37.bed12"
    bed.write_text("".join(line[3:] + "\n" for line in ref["tx"].read_text().splitlines()))
    dom = tmp_path / "b37.domains.bed"
    dom.write_text(ref["domains"].read_text()[3:])
    bam, _ = build(ref, tmp_path / "s.bam", introns=True)
    r = F.detect(bam, read_transcripts(bed), read_domains(dom), ref["fasta"], None)
    assert r.status == "negative", r.reason


# ---------------------------------------------------------------------------------------------------------------
# the stage: QC gate, sensitivity, outputs, command line
# ---------------------------------------------------------------------------------------------------------------

SAMPLE = {"sample_id": "S1", "patient_id": "P1", "sample_type": "tumor", "purity": 0.5}


def test_qc_fail_not_evaluable_without_opening_alignment(ref, tmp_path):
    qc = tmp_path / "qc.tsv"
    qc.write_text("sample_id\tpatient_id\tsample_type\tstatus\treasons\nS1\tP1\ttumor\tfail\tmean target depth 20x\n")
    r = F.run(tmp_path / "does-not-exist.bam", ref["tx"], tmp_path / "out", SAMPLE, ref["fasta"], ref["domains"],
              qc_path=qc)
    assert r.status == "not_evaluable" and "mean target depth 20x" in r.reason
    bm = read_table(tmp_path / "out" / "biomarkers.tsv")
    assert list(bm["status"]) == ["not_evaluable"] and bm["biomarker"][0] == "NRG1_FUSION"
    assert len(read_table(tmp_path / "out" / "fusions.tsv")) == 0


def _tf_file(path, status, value):
    path.write_text("patient_id\tsample_id\tsample_type\tbiomarker\tstatus\tvalue\tevidence\n"
                    f"P1\tS1\tplasma\tTUMOR_FRACTION\t{status}\t{value}\tx\n")
    return path


@pytest.mark.parametrize("sample_type,purity,tf,expected", [
    ("tumor", 0.5, None, "negative"),
    ("tumor", None, None, "negative"),              # purity unknown: negative with a note
    ("tumor", 0.05, None, "not_evaluable"),         # ~30x x 0.05 / 2 < 1 expected read
    ("plasma", None, ("negative", ""), "not_evaluable"),      # no ctDNA detected
    ("plasma", None, ("not_evaluable", ""), "not_evaluable"),  # fraction unknown
    ("plasma", None, ("positive", "0.6"), "negative"),
], ids=["tissue", "tissue-no-purity", "tissue-low-purity", "plasma-no-ctdna", "plasma-tf-unknown", "plasma-tf"])
def test_sensitivity_of_a_negative(ref, tmp_path, sample_type, purity, tf, expected):
    bam, _ = build(ref, tmp_path / "s.bam")
    tf_path = _tf_file(tmp_path / "bm.tsv", *tf) if tf else None
    sample = {**SAMPLE, "sample_type": sample_type, "purity": purity}
    r = F.run(bam, ref["tx"], tmp_path / "out", sample, ref["fasta"], ref["domains"], settings=None,
              tumor_fraction_path=tf_path)
    assert r.status == expected, r.reason
    if purity is None and sample_type == "tumor":
        assert "sensitivity not assessed" in r.reason


def test_positive_not_downgraded_by_sensitivity(ref, tmp_path):
    bam, _ = build(ref, tmp_path / "s.bam", [(CD74_NRG1, SPLIT_OFFSETS, {})])
    r = F.run(bam, ref["tx"], tmp_path / "out", {**SAMPLE, "purity": 0.01}, ref["fasta"], ref["domains"])
    assert r.status == "positive"


def test_cli_writes_every_output(ref, tmp_path):
    bam, names = build(ref, tmp_path / "S9.bam", [(CD74_NRG1, SPLIT_OFFSETS + PAIR_OFFSETS, {}),
                                                   (NRG1_CD74, [40, 60], {})])
    out = tmp_path / "out"
    rc = F.main(["--bam", str(bam), "--transcripts", str(ref["tx"]), "--domains", str(ref["domains"]),
                 "--fasta", str(ref["fasta"]), "--out-dir", str(out), "--patient-id", "P9", "--purity", "0.4"])
    assert rc == 0
    fus = read_table(out / "fusions.tsv")
    assert list(fus.columns[:len(COLUMNS["fusions"])]) == COLUMNS["fusions"]
    assert fus.loc[0, "sample_id"] == "S9" and fus.loc[0, "gene_5p"] == "CD74"
    bm = read_table(out / "biomarkers.tsv")
    assert bm.loc[0, "status"] == "positive" and bm.loc[0, "value"] == "CD74-NRG1"
    details = json.loads(bm.loc[0, "details"])
    for key in ("partner", "novel_partner", "egf_domain_retained", "frame", "split_reads", "discordant_pairs",
                "junction_5p", "junction_3p"):
        assert key in details
    assert details["novel_partner"] is False and details["egf_domain_retained"] is True
    assert details["junction_3p"] == f"chrA:{NRG1_BP + 1}"
    # VCF breakends: a mated pair, ALT in the partner-5'/NRG1-3' orientation
    with pysam.VariantFile(str(out / "S9.vcf")) as vf:
        recs = list(vf)
    assert len(recs) == 2
    by_chrom = {r.chrom: r for r in recs}
    assert by_chrom["chrB"].info["MATEID"][0] == by_chrom["chrA"].id
    assert by_chrom["chrB"].alts[0] == f"[chrA:{NRG1_BP + 1}[{by_chrom['chrB'].ref}"
    assert by_chrom["chrA"].alts[0] == f"[chrB:{CD74_BP + 1}[{by_chrom['chrA'].ref}"
    assert by_chrom["chrA"].ref == ref["genome"]["chrA"][NRG1_BP]
    bedpe = pd.read_csv(out / "S9.bedpe", sep="\t")
    assert list(bedpe.iloc[0][["#chrom1", "end1", "chrom2", "end2", "strand1", "strand2"]]) == \
        ["chrB", CD74_BP + 1, "chrA", NRG1_BP + 1, "-", "-"]
    reads = pd.read_csv(out / "evidence_reads.txt", sep="\t", comment="#")
    e1 = reads[reads["event_id"] == fus.loc[0, "event_id"]]
    assert set(e1["read_name"]) == set(names[:8])
    assert (out / "events.tsv").exists() and (out / "intron_coverage.tsv").exists()


def test_cli_bad_transcripts_reports_error(ref, tmp_path, capsys):
    bad = tmp_path / "bad.bed12"
    bad.write_text("chrA\t0\t10\tNRG1\n")
    rc = F.main(["--bam", "x.bam", "--transcripts", str(bad), "--fasta", str(ref["fasta"]), "--out-dir",
                 str(tmp_path / "o")])
    assert rc == 1 and "malformed" in capsys.readouterr().err


def test_defaults_match_config_and_schema():
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["fusions"]
    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    props = schema["properties"]["fusions"]["properties"]
    assert set(props) == set(F.DEFAULTS) == set(cfg)
    for key, value in F.DEFAULTS.items():
        assert cfg[key] == value, key
        assert props[key]["default"] == value, key


def test_unknown_setting_rejected():
    with pytest.raises(F.InputError, match="min_split_read"):
        F.settings_from({"min_split_read": 3})


# ---------------------------------------------------------------------------------------------------------------
# table-driven annotation, frame and geometry logic
# ---------------------------------------------------------------------------------------------------------------

# Partner P (+): exons 0-10, 20-30, 40-50, 60-70, CDS 5-65 -> phases (-1,2) (2,0) (0,1) (1,-1)
TX_P = Transcript("P", "TP", "c1", 0, 70, "+", [(0, 10), (20, 30), (40, 50), (60, 70)], 5, 65)
# Partner M (-): exons 0-10, 20-30, 40-50, CDS 5-45; transcript order (40-50) (20-30) (0-10) -> (-1,2) (2,0) (0,-1)
TX_M = Transcript("M", "TM", "c1", 0, 50, "-", [(0, 10), (20, 30), (40, 50)], 5, 45)
# Gene G (+): exons 100-110, 120-131, 140-150, 160-170, CDS 100-165 -> (0,1) (1,0) (0,1) (1,-1)
TX_G = Transcript("G", "TG", "c2", 100, 170, "+", [(100, 110), (120, 131), (140, 150), (160, 170)], 100, 165)
TX_NOCDS = Transcript("N", "TN", "c1", 0, 50, "+", [(0, 10), (40, 50)], 0, 0)


def test_phases_behind_the_frame_table():
    assert TX_P.coding_exon_phases() == [(-1, 2), (2, 0), (0, 1), (1, -1)]
    assert TX_M.coding_exon_phases() == [(-1, 2), (2, 0), (0, -1)]
    assert TX_G.coding_exon_phases() == [(0, 1), (1, 0), (0, 1), (1, -1)]


@pytest.mark.parametrize("partner,p_bp,g_bp,expected", [
    (TX_P, 15, 115, "out_of_frame"),    # P exon 1 end 2 vs G exon 2 start 1
    (TX_P, 35, 135, "in_frame"),        # P exon 2 end 0 vs G exon 3 start 0
    (TX_P, 55, 115, "in_frame"),        # P exon 3 end 1 vs G exon 2 start 1
    (TX_P, 35, 95, "in_frame"),         # G breakpoint upstream: all of G kept, exon 1 start 0
    (TX_P, 25, 115, "unknown"),         # partner breakpoint in an exon
    (TX_P, 35, 125, "unknown"),         # gene breakpoint in an exon
    (TX_M, 35, 115, "out_of_frame"),    # M (minus) intron 1 -> exon 1 end 2 vs G exon 2 start 1
    (TX_M, 15, 135, "in_frame"),        # M intron 2 -> exon 2 end 0 vs G exon 3 start 0
    (TX_NOCDS, 20, 135, "unknown"),     # no CDS in the partner model
    (None, 20, 135, "unknown"),         # intergenic partner
])
def test_predict_frame(partner, p_bp, g_bp, expected):
    assert F.predict_frame(partner, p_bp, TX_G, g_bp)[0] == expected


@pytest.mark.parametrize("keep,bp,domain,expected", [
    ("R", 135, (140, 150), True),       # + strand gene, breakpoint 5' of the domain
    ("R", 140, (140, 150), True),       # first kept base = first domain base
    ("R", 145, (140, 150), False),      # inside the domain
    ("R", 155, (140, 150), False),      # 3' of the domain
    ("L", 47, (40, 45), True),          # - strand gene keeps the left part: domain at lower coordinates
    ("L", 42, (40, 45), False),
])
def test_egf_retained(keep, bp, domain, expected):
    dom = pd.DataFrame([("c2", domain[0], domain[1], "G", "EGF_like", "+")],
                       columns=["chrom", "start", "end", "gene", "domain", "strand"])
    assert F.egf_retained(dom, "G", "EGF_like", keep, bp) is expected


def test_egf_unknown_without_domains():
    assert F.egf_retained(None, "G", "EGF_like", "R", 10) is None


# ---------------------------------------------------------------------------------------------------------------
# the bundled GRCh38 / GRCh37 resources (no annotation overrides): real MANE models with CDS decide the frame
# ---------------------------------------------------------------------------------------------------------------

def bundled(build):
    """transcripts + domains exactly as a run with reference.build = ``build`` and no annotation.* gets them."""
    from erbbscreen.settings import resolve_paths
    paths = resolve_paths({"reference": {"build": build, "fasta": "ref.fa"}, "samples": "samples.tsv"})
    assert Path(paths["transcripts"]).parent.name == build and Path(paths["domains"]).parent.name == build
    return read_transcripts(paths["transcripts"]), read_domains(paths["domains"])


def intron_mid(tx, k):
    s, e = tx.introns_in_transcript_order()[k - 1]
    return (s + e) // 2


# Hand derivation from the bundled MANE models (exon lengths in transcript order; Ensembl end phase = coding bases
# up to the exon's end mod 3):
#   NRG1 ENST00000405005.8, 5' UTR 416 nt, exons 516 178 122 51 51 | 130 68 ...: coding 100, 278, 400, 451, 502 ->
#        exon 6 start phase 502 % 3 = 1; exon 8 start phase (502 + 130 + 68) % 3 = 1. EGF-like domain on exons 6-7.
#   CD74 ENST00000009530.13, 5' UTR 161 nt, exons 286 173 80 63 96 88 ...: coding 125, 298, 378, 441, 537, 625 ->
#        exon 5 end phase 0, exon 6 end phase 1 (625 = 3 x 208 + 1).
#   SDC4 ENST00000372733.3, 5' UTR 40 nt, exons 100 139 ...: coding 60, 199 -> exon 1 end phase 0, exon 2 end phase 1.
#   SLC3A2 ENST00000338663.12, 5' UTR 128 nt, exons 552 174 92 69 59 ...: coding 424, 598, 690, 759, 818 ->
#        exon 2 end phase 1, exon 4 end phase 0.
# CD74 exon 6 -> NRG1 exon 6 (phase 1 meets phase 1) is the junction reported for CD74-NRG1 ([FC14] in
# domain-spec; the paper's exon numbers taken as MANE numbers, UNVERIFIED); the other rows follow from the phases.
BUNDLED_JUNCTIONS = [
    # partner, partner intron k (keeps exons 1..k) and exon k end phase, NRG1 intron j (keeps exons j+1..) and
    # exon j+1 start phase, frame, EGF-like domain kept
    ("CD74", 6, 1, 5, 1, "in_frame", True),
    ("CD74", 5, 0, 5, 1, "out_of_frame", True),
    ("CD74", 6, 1, 7, 1, "in_frame", False),     # in frame, but NRG1 exons 6-7 (EGF-like) are lost
    ("SDC4", 2, 1, 5, 1, "in_frame", True),
    ("SDC4", 1, 0, 5, 1, "out_of_frame", True),
    ("SLC3A2", 2, 1, 5, 1, "in_frame", True),
    ("SLC3A2", 4, 0, 5, 1, "out_of_frame", True),
]
# SLC3A2 has no verified GRCh37 placement and is absent from the GRCh37 BED12 (tests/test_resources.py)
BUNDLED_CASES = [(b, *j) for b in ("GRCh38", "GRCh37") for j in BUNDLED_JUNCTIONS if (b, j[0]) != ("GRCh37", "SLC3A2")]


@pytest.mark.parametrize("build,partner,p_intron,p_phase,g_intron,g_phase,frame,kept", BUNDLED_CASES)
def test_bundled_partner_nrg1_junction_gets_frame_and_egf_decided(build, partner, p_intron, p_phase, g_intron,
                                                                   g_phase, frame, kept):
    tx, dom = bundled(build)
    nrg1, ptx = tx["NRG1"], tx[partner]
    p_bp, g_bp = intron_mid(ptx, p_intron), intron_mid(nrg1, g_intron)
    # the same look-ups _decide() makes for a detected event
    assert F.gene_at(tx, ptx.chrom, p_bp, prefer=(partner,)) is ptx
    assert F.describe_location(ptx, p_bp) == f"{partner} intron {p_intron}"
    assert F.describe_location(nrg1, g_bp) == f"NRG1 intron {g_intron}"
    g_keep, _ = F.required_keeps(nrg1.strand, ptx.strand)
    assert F.predict_frame(ptx, p_bp, nrg1, g_bp) == (
        frame, f"{partner} exon {p_intron} end phase {p_phase}, NRG1 exon {g_intron + 1} start phase {g_phase}")
    assert F.egf_retained(dom, "NRG1", "EGF_like", g_keep, g_bp) is kept


class LazyContig:
    """A full-length contig whose bases are made on demand (deterministic, 4-kb blocks): SimBam can then write
    reads at the real GRCh38/GRCh37 coordinates of the bundled models without a 150-Mb string. Synthetic bases;
    no reference FASTA is used (detection from split reads and pairs needs none)."""

    def __init__(self, length: int, seed: int):
        self.length, self.seed, self.blocks = length, seed, {}

    def __len__(self):
        return self.length

    def _block(self, b):
        if b not in self.blocks:
            import random
            self.blocks[b] = "".join(random.Random(self.seed * 1_000_003 + b).choices("ACGT", k=4096))
        return self.blocks[b]

    def __getitem__(self, sl):
        start, stop = sl.start, min(sl.stop, self.length)
        return "".join(self._block(b) for b in range(start // 4096, (stop - 1) // 4096 + 1))[
            start % 4096:start % 4096 + stop - start]


# GRCh38 / GRCh37 lengths of chr5 and chr8 (the BAM header of a real alignment); GRCh37 with UCSC 'chr' names, as an
# hg19 BAM has them, against the bundled b37-named ('5', '8') GRCh37 models
CONTIG_LENGTHS = {"GRCh38": {"chr5": 181538259, "chr8": 145138636}, "GRCh37": {"chr5": 180915260, "chr8": 146364022}}


@pytest.mark.parametrize("build", ["GRCh38", "GRCh37"])
def test_bundled_cd74_nrg1_reads_give_in_frame_egf_kept(build, tmp_path):
    """Split reads and pairs of a CD74 intron 6 / NRG1 intron 5 junction at the real coordinates, detected with the
    bundled annotation of the build: CD74 exon 6 (end phase 1) + NRG1 exon 6 (start phase 1) = in frame, and the
    EGF-like domain (NRG1 exons 6-7) is kept."""
    tx, dom = bundled(build)
    cd74, nrg1 = tx["CD74"], tx["NRG1"]
    p_bp, g_bp = intron_mid(cd74, 6), intron_mid(nrg1, 5)
    genome = {c: LazyContig(n, seed=k) for k, (c, n) in enumerate(CONTIG_LENGTHS[build].items(), 1)}
    ucsc = lambda c: c if c.startswith("chr") else "chr" + c  # noqa: E731
    molecule = [(ucsc(cd74.chrom), p_bp, p_bp + W, "-"), (ucsc(nrg1.chrom), g_bp, g_bp + W, "+")]
    sb = SimBam(genome, seed=5)
    sb.add_fragments_across(molecule, W, SPLIT_OFFSETS + PAIR_OFFSETS)
    r = F.detect(sb.write(tmp_path / "s.bam"), tx, dom)
    assert r.status == "positive" and len(r.fusions) == 1, r.reason
    f = r.fusions[0]
    assert (f["fusion"], f["partner_status"], f["transcript_5p"], f["transcript_3p"]) == (
        "CD74-NRG1", "known", "ENST00000009530.13", "ENST00000405005.8")
    assert (f["pos_5p"], f["pos_3p"]) == (p_bp + 1, g_bp + 1)
    assert (f["location_5p"], f["location_3p"]) == ("CD74 intron 6", "NRG1 intron 5")
    assert (f["frame"], f["frame_basis"]) == ("in_frame", "CD74 exon 6 end phase 1, NRG1 exon 6 start phase 1")
    assert f["egf_domain_retained"] == "yes"


@pytest.mark.parametrize("gene_strand,partner_strand,expected", [
    ("+", "+", ("R", "L")), ("+", "-", ("R", "R")), ("-", "+", ("L", "L")), ("-", "-", ("L", "R")),
    ("+", None, ("R", None)),
])
def test_required_keeps(gene_strand, partner_strand, expected):
    assert F.required_keeps(gene_strand, partner_strand) == expected


@pytest.mark.parametrize("this_keep,mate_keep,alt", [
    ("L", "R", "A[chrX:100["), ("L", "L", "A]chrX:100]"), ("R", "L", "]chrX:100]A"), ("R", "R", "[chrX:100[A"),
])
def test_vcf_alt(this_keep, mate_keep, alt):
    assert F._vcf_alt("A", this_keep, "chrX", 100, mate_keep) == alt


REF_WIN = random_genome({"w": 400}, seed=9)["w"]


@pytest.mark.parametrize("this_keep,other_keep", [("R", "L"), ("R", "R"), ("L", "R"), ("L", "L")])
@pytest.mark.parametrize("mismatches,found", [(0, True), (2, True), (4, False)])
def test_find_clip(this_keep, other_keep, mismatches, found):
    bp, n = 200, 25
    seg = REF_WIN[bp - n + 1:bp + 1] if other_keep == "L" else REF_WIN[bp:bp + n]
    same = (this_keep == "R") == (other_keep == "L")
    clip = seg if same else revcomp(seg)
    # mismatches away from the junction-proximal seed
    far = list(range(n - 1, n - 1 - mismatches, -1)) if this_keep == "L" else list(range(mismatches))
    clip = "".join(("A" if c != "A" else "C") if i in far else c for i, c in enumerate(clip))
    hit = F.find_clip(clip, this_keep, other_keep, REF_WIN, 1000, 0.1)
    assert (hit is not None) is found
    if found:
        assert hit == (1000 + bp, mismatches)


@pytest.mark.parametrize("reverse,cigar,other_start,expected", [
    (False, "60S40M", 0, ("R", 500)),       # + strand, clipped left, other part earlier in the read
    (False, "40M60S", 40, ("L", 539)),      # + strand, clipped right, other part later
    (True, "60S40M", 40, ("R", 500)),       # - strand: the aligned part is the read's start, still clipped left
    (True, "40M60S", 0, ("L", 539)),
])
def test_piece_junction_end(reverse, cigar, other_start, expected):
    p = F.piece_from_cigar("c", 500, reverse, cigar, 60)
    other = F.Piece("d", 0, 60, False, other_start, 100 - other_start - 60, 100, 60)
    assert p.junction_end(other) == expected


def test_describe_location():
    assert F.describe_location(TX_M, 35) == "M intron 1"
    assert F.describe_location(TX_M, 45) == "M exon 1"
    assert F.describe_location(TX_M, 60) == "M upstream (5')"
    assert F.describe_location(None, 5) == "intergenic"


def test_evaluable_introns_from_domain():
    dom = pd.DataFrame([("c2", 140, 150, "G", "EGF_like", "+")],
                       columns=["chrom", "start", "end", "gene", "domain", "strand"])
    assert F.evaluable_introns(TX_G, dom, "EGF_like", []) == [1, 2]
    assert F.evaluable_introns(TX_G, None, "EGF_like", []) == [1, 2, 3]
    assert F.evaluable_introns(TX_G, dom, "EGF_like", [3]) == [3]


# ---------------------------------------------------------------------------------------------------------------
# the simulated cohort
# ---------------------------------------------------------------------------------------------------------------

COHORT = Path(os.environ.get("ERBBSCREEN_COHORT", ROOT / "tests" / "cohort" / "data"))
needs_cohort = pytest.mark.skipif(not (COHORT / "truth.json").exists(),
                                  reason=f"simulated cohort not generated at {COHORT} "
                                         "(python tests/cohort/make_cohort.py)")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """Every cohort sample through the stage (QC gate: the real preflight measurement, for P09-T)."""
    from erbbscreen.preflight import run_sample_qc

    truth = json.loads((COHORT / "truth.json").read_text())
    sheet = pd.read_csv(COHORT / "samples.tsv", sep="\t", dtype=str, keep_default_na=False)
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    ref_dir = COHORT / "reference"
    out = tmp_path_factory.mktemp("cohort_fusions")
    results = {}
    for row in sheet.itertuples():
        sid, bam = row.sample_id, str(COHORT / row.bam)
        t = truth["samples"][sid]
        purity = float(row.purity) if row.purity else None
        sample = {"sample_id": sid, "patient_id": row.patient_id, "sample_type": row.sample_type, "purity": purity,
                  "bam": bam}
        qc_path = None
        if sid == "P09-T":
            qc_path = out / sid / "qc.tsv"
            qc_path.parent.mkdir(parents=True, exist_ok=True)
            run_sample_qc(sample, bam, str(qc_path), fasta=str(ref_dir / "genome.fa"), build="custom", qc=cfg["qc"],
                          panel_bed=str(ref_dir / "panel.bed"), transcripts_bed=str(ref_dir / "transcripts.bed12"))
        tf_path = None
        if row.sample_type == "plasma" and purity is None:
            # stand-in for the hotspots stage's published TUMOR_FRACTION: the simulated fraction
            f = t["true_tumour_fraction"]
            tf_path = out / f"{sid}.tf.tsv"
            _tf_file(tf_path, "positive" if f > 0 else "negative", f if f > 0 else "")
        r = F.run(bam, ref_dir / "transcripts.bed12", out / sid, sample, ref_dir / "genome.fa",
                  ref_dir / "domains.bed", qc_path=qc_path, tumor_fraction_path=tf_path)
        results[sid] = (r, t)
    return results


@needs_cohort
def test_cohort_p08_cd74_nrg1_found(cohort):
    r, t = cohort["P08-T"]
    planted = [p for p in t["planted"] if p["type"] == "fusion"][0]
    assert r.status == "positive", r.reason
    assert len(r.fusions) == 1
    f = r.fusions[0]
    assert (f["gene_5p"], f["gene_3p"]) == (planted["gene_5p"], planted["gene_3p"]) == ("CD74", "NRG1")
    assert f["chrom_5p"] == planted["chrom_5p"] and abs(f["pos_5p"] - planted["pos_5p"]) <= 10
    assert f["chrom_3p"] == planted["chrom_3p"] and abs(f["pos_3p"] - planted["pos_3p"]) <= 10
    assert f["orientation"].startswith(f"CD74({planted['strand_5p']}) 5' / NRG1({planted['strand_3p']}) 3'")
    assert f["location_5p"] == f"CD74 intron {planted['intron_5p']}"
    assert f["location_3p"] == f"NRG1 intron {planted['intron_3p']}"
    assert f["egf_domain_retained"] == ("yes" if planted["egf_like_retained"] else "no")
    assert f["frame"] == ("in_frame" if planted["predicted_in_frame"] else "out_of_frame")
    # unique split-read fragments: at least the SA-tagged ones the generator counted (ours add soft-clip reads)
    assert f["split_reads"] >= planted["realised"]["split_read_fragments"] >= 2
    assert f["discordant_pairs"] >= 2


@needs_cohort
def test_cohort_no_fusion_elsewhere(cohort):
    called = {sid: [f["fusion"] for f in r.fusions] for sid, (r, _) in cohort.items() if sid != "P08-T" and r.fusions}
    assert called == {}


@needs_cohort
def test_cohort_statuses_match_truth(cohort):
    wrong = {}
    for sid, (r, t) in cohort.items():
        exp = t["expected"]["NRG1_FUSION"]
        if r.status != exp["status"] and r.status not in exp.get("accept", []):
            wrong[sid] = (r.status, exp["status"], r.reason)
    assert wrong == {}


@needs_cohort
def test_cohort_exome_like_not_evaluable(cohort):
    r, _ = cohort["P11-T"]
    assert r.status == "not_evaluable" and "introns not covered" in r.reason
    assert r.coverage_fraction < F.DEFAULTS["min_intron_covered_fraction"]


@needs_cohort
def test_cohort_qc_fail_not_evaluable(cohort):
    r, _ = cohort["P09-T"]
    assert r.status == "not_evaluable" and "failed QC" in r.reason
