"""Tests for erbbscreen.annotation and the bundled resources (resources/GRCh38, resources/GRCh37).

Fixtures: tests/data/annotation/ (hand-made BED12 with its truth in toy_transcripts.truth.md; a
synthetic 60 bp FASTA). Real cross-checks: the shipped GRCh38 hotspot table against the GENCODE v44
MANE exon structure in resources/GRCh38/transcripts.bed12, and the GRCh37 table against the GRCh38 one.
"""
from pathlib import Path

import pandas as pd
import pytest

from erbbscreen import annotation as ann
from erbbscreen.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "annotation"
RES = ROOT / "resources"
TOY = DATA / "toy_transcripts.bed12"
FASTA = DATA / "tiny.fa"


@pytest.fixture(scope="module")
def toy():
    return ann.read_transcripts(TOY)


@pytest.fixture(scope="module")
def mane():
    return ann.read_transcripts(RES / "GRCh38" / "transcripts.bed12")


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("codon,aa", [("GGT", "G"), ("CAA", "Q"), ("gtg", "V"), ("TAA", "*"), ("ATG", "M"),
                                      ("TGG", "W"), ("NGT", "X")])
def test_translate_codon(codon, aa):
    assert ann.translate_codon(codon) == aa


def test_genetic_code_has_64_codons_and_3_stops():
    assert len(ann.GENETIC_CODE) == 64
    assert sorted(c for c, a in ann.GENETIC_CODE.items() if a == "*") == ["TAA", "TAG", "TGA"]


def test_revcomp():
    assert ann.revcomp("ACCGTn") == "nACGGT"


# ------------------------------------------------------------------------------------------------
# transcript model on the hand-made fixture (truth: toy_transcripts.truth.md)
# ------------------------------------------------------------------------------------------------

def test_read_toy(toy):
    assert set(toy) == {"PLUSG", "MINUSG", "NOCDS"}
    p = toy["PLUSG"]
    assert (p.chrom, p.start, p.end, p.strand, p.transcript_id) == ("chr1", 100, 200, "+", "TX_PLUS")
    assert p.exons == [(100, 120), (140, 160), (180, 200)]
    assert (p.cds_start, p.cds_end, p.cds_status, p.cds_complete) == (110, 189, "", True)
    assert toy["MINUSG"].cds_status == "complete"
    n = toy["NOCDS"]
    assert (n.transcript_id, n.has_cds, n.cds_status) == ("", False, "none")


def test_exon_order(toy):
    assert toy["PLUSG"].exons_in_transcript_order() == [(100, 120), (140, 160), (180, 200)]
    assert toy["MINUSG"].exons_in_transcript_order() == [(1080, 1100), (1030, 1060), (1000, 1010)]
    assert toy["MINUSG"].introns_in_transcript_order() == [(1060, 1080), (1010, 1030)]


@pytest.mark.parametrize("gene,pos,where", [
    ("PLUSG", 99, ("upstream", None)), ("PLUSG", 100, ("exon", 1)), ("PLUSG", 125, ("intron", 1)),
    ("PLUSG", 150, ("exon", 2)), ("PLUSG", 170, ("intron", 2)), ("PLUSG", 199, ("exon", 3)),
    ("PLUSG", 200, ("downstream", None)),
    ("MINUSG", 1100, ("upstream", None)), ("MINUSG", 1095, ("exon", 1)), ("MINUSG", 1070, ("intron", 1)),
    ("MINUSG", 1045, ("exon", 2)), ("MINUSG", 1020, ("intron", 2)), ("MINUSG", 1000, ("exon", 3)),
    ("MINUSG", 999, ("downstream", None)),
])
def test_locate(toy, gene, pos, where):
    tx = toy[gene]
    assert tx.locate(pos) == where
    kind, k = where
    assert tx.exon_number_at(pos) == (k if kind == "exon" else None)
    assert tx.intron_number_at(pos) == (k if kind == "intron" else None)


@pytest.mark.parametrize("gene,phases", [
    ("PLUSG", [(-1, 1), (1, 0), (0, -1)]),
    ("MINUSG", [(-1, 1), (1, 1), (1, -1)]),
    ("NOCDS", [(-1, -1)]),
])
def test_phases(toy, gene, phases):
    assert toy[gene].coding_exon_phases() == phases


@pytest.mark.parametrize("gene,c,pos0", [
    ("PLUSG", 1, 110), ("PLUSG", 10, 119), ("PLUSG", 11, 140), ("PLUSG", 30, 159), ("PLUSG", 31, 180),
    ("PLUSG", 39, 188),
    ("MINUSG", 1, 1089), ("MINUSG", 10, 1080), ("MINUSG", 11, 1059), ("MINUSG", 40, 1030),
    ("MINUSG", 41, 1009), ("MINUSG", 45, 1005),
])
def test_cdna_to_genome_and_back(toy, gene, c, pos0):
    tx = toy[gene]
    assert tx.cdna_to_genome(c) == pos0
    assert tx.genome_to_cdna(pos0) == c


def test_cds_bounds(toy):
    assert toy["PLUSG"].cds_length == 39 and toy["MINUSG"].cds_length == 45
    with pytest.raises(ValueError, match="outside the CDS"):
        toy["PLUSG"].cdna_to_genome(40)
    with pytest.raises(ValueError, match="no CDS"):
        toy["NOCDS"].cdna_to_genome(1)
    assert toy["PLUSG"].genome_to_cdna(105) is None  # 5' UTR
    assert toy["PLUSG"].genome_to_cdna(130) is None  # intron


@pytest.mark.parametrize("gene,codon,pos", [
    ("PLUSG", 1, (111, 112, 113)), ("PLUSG", 4, (120, 141, 142)),
    ("MINUSG", 1, (1090, 1089, 1088)), ("MINUSG", 4, (1081, 1060, 1059)),
])
def test_codon_positions(toy, gene, codon, pos):
    assert toy[gene].codon_positions(codon) == pos


def test_transcript_coordinates(toy):
    m = toy["MINUSG"]
    assert m.genome_to_transcript(1099) == 1 and m.genome_to_transcript(1080) == 20
    assert m.genome_to_transcript(1059) == 21 and m.genome_to_transcript(1070) is None
    assert [m.transcript_to_genome(n) for n in (1, 20, 21, 60)] == [1099, 1080, 1059, 1000]
    with pytest.raises(ValueError):
        m.transcript_to_genome(61)


def test_bed12_round_trip(toy, tmp_path):
    p = write(tmp_path, "rt.bed12", "".join(t.to_bed12() + "\n" for t in toy.values()))
    again = ann.read_transcripts(p)
    assert again == toy


def test_gene_intervals(toy):
    df = ann.gene_intervals(toy)
    row = df[df.gene == "MINUSG"].iloc[0]
    assert (row.chrom, row.start, row.end, row.strand, row.transcript_id) == ("chr2", 1000, 1100, "-", "TX_MINUS")


# ------------------------------------------------------------------------------------------------
# malformed inputs: every message names the file and the line
# ------------------------------------------------------------------------------------------------

GOOD = "chr1\t100\t200\tG1\t0\t+\t110\t189\t0\t3\t20,20,20,\t0,40,80,\tT1"


@pytest.mark.parametrize("line,needle", [
    ("chr1 100 200 G1 0 + 110 189 0 3 20,20,20, 0,40,80,", "tab"),
    ("chr1\t100\t200\tG1\t0\t*\t110\t189\t0\t3\t20,20,20,\t0,40,80,", "strand"),
    ("chr1\tx\t200\tG1\t0\t+\t110\t189\t0\t3\t20,20,20,\t0,40,80,", "integers"),
    ("chr1\t100\t200\tG1\t0\t+\t110\t189\t0\t3\t20,20,20,\t5,40,80,", "blockStart is 5, must be 0"),
    ("chr1\t100\t200\tG1\t0\t+\t110\t189\t0\t3\t20,20,30,\t0,40,80,", "beyond"),
    ("chr1\t100\t200\tG1\t0\t+\t110\t189\t0\t2\t20,20,20,\t0,40,80,", "blockCount"),
    ("chr1\t100\t200\tG1\t0\t+\t110\t189\t0\t3\t20,20,20,\t0,10,80,", "overlap"),
    ("chr1\t100\t200\tG1\t0\t+\t90\t189\t0\t3\t20,20,20,\t0,40,80,", "thickStart"),
    ("chr1\t100\t200\tG1\t0\t+\t125\t189\t0\t3\t20,20,20,\t0,40,80,", "intron"),
    ("chr1\t100\t200\tG1\t0\t+\t110\t189\t0\t3\t20,20,20,\t0,40,80,\tT1\tmaybe", "column 14"),
    ("chr1\t100\t200\tG1\t0\t+\t110\t189\t0\t3\t20,20,20,\t0,40,80,\tT1\tnone", "contradicts"),
])
def test_bad_bed12_line(tmp_path, line, needle):
    p = write(tmp_path, "bad.bed12", "# header\n" + line + "\n")
    with pytest.raises(InputError) as ei:
        ann.read_transcripts(p)
    msg = str(ei.value)
    assert f"{p}:2:" in msg and needle in msg


def test_bed12_duplicate_gene_and_all_problems_at_once(tmp_path):
    bad = "chr1\t100\t200\tG2\t0\t?\t110\t189\t0\t3\t20,20,20,\t0,40,80,"
    p = write(tmp_path, "dup.bed12", f"{GOOD}\n{GOOD}\n{bad}\n")
    with pytest.raises(InputError) as ei:
        ann.read_transcripts(p)
    assert len(ei.value.problems) == 2
    assert f"{p}:2: gene G1 already defined on line 1" in str(ei.value)
    assert f"{p}:3:" in str(ei.value)


def test_bed12_missing_and_empty(tmp_path):
    with pytest.raises(InputError, match="cannot open"):
        ann.read_transcripts(tmp_path / "nope.bed12")
    with pytest.raises(InputError, match="no transcript lines"):
        ann.read_transcripts(write(tmp_path, "e.bed12", "# only a comment\n"))


HS_HEADER = "gene\tcodon\tref_aa\tchrom\tstrand\tpos1\tpos2\tpos3"


@pytest.mark.parametrize("row,needle", [
    ("KRAS\t12\tGly\tchr12\t-\t25245351\t25245350\t25245349", "one upper-case one-letter amino acid"),
    ("KRAS\ttwelve\tG\tchr12\t-\t25245351\t25245350\t25245349", "codon 'twelve' must be a positive integer"),
    ("KRAS\t12\tG\tchr12\t-1\t25245351\t25245350\t25245349", "strand '-1'"),
    ("KRAS\t12\tG\tchr12\t-\t25245351\t25245352\t25245353", "consecutive"),
    ("KRAS\t12\tG\tchr12\t-\t25245351\t25245350", "field(s)"),
    ("KRAS\t12\tG\tchr12\t-\t25245351\t25245350\t2.5e7", "pos3"),
    ("\t12\tG\tchr12\t-\t25245351\t25245350\t25245349", "gene is empty"),
])
def test_bad_hotspot_row(tmp_path, row, needle):
    p = write(tmp_path, "hs.tsv", HS_HEADER + "\n" + row + "\n")
    with pytest.raises(InputError) as ei:
        ann.read_hotspots(p)
    msg = str(ei.value)
    assert f"{p}:2:" in msg and needle in msg


def test_hotspots_all_problems_at_once_and_duplicates(tmp_path):
    rows = ["KRAS\t12\tG\tchr12\t-\t25245351\t25245350\t25245349",
            "KRAS\t12\tG\tchr12\t-\t25245351\t25245350\t25245349",
            "NRAS\t0\tB\tchr1\t+\t1\t2\t3"]
    p = write(tmp_path, "hs.tsv", HS_HEADER + "\n" + "\n".join(rows) + "\n")
    with pytest.raises(InputError) as ei:
        ann.read_hotspots(p)
    msg = str(ei.value)
    assert "KRAS codon 12 already listed on line 2" in msg
    assert f"{p}:4: codon '0'" in msg and f"{p}:4: ref_aa 'B'" in msg


def test_hotspots_missing_column(tmp_path):
    p = write(tmp_path, "hs.tsv", "gene\tcodon\tref_aa\tchrom\tpos1\tpos2\tpos3\nKRAS\t12\tG\tchr12\t1\t2\t3\n")
    with pytest.raises(InputError, match=r"hs.tsv:1: header lacks column\(s\) strand"):
        ann.read_hotspots(p)


def test_hotspots_split_codon_needs_flag(tmp_path):
    row = "X\t4\tG\tchr1\t+\t120\t141\t142"
    with pytest.raises(InputError, match="spans_splice"):
        ann.read_hotspots(write(tmp_path, "a.tsv", HS_HEADER + "\n" + row + "\n"))
    df = ann.read_hotspots(write(tmp_path, "b.tsv", HS_HEADER + "\tspans_splice\n" + row + "\tyes\n"))
    assert list(df.loc[0, ["pos1", "pos2", "pos3"]]) == [120, 141, 142]


# ------------------------------------------------------------------------------------------------
# FASTA check on the synthetic 60 bp contig
# ------------------------------------------------------------------------------------------------

def test_fixture_hotspots_pass():
    df = ann.read_hotspots(DATA / "tiny_hotspots.tsv")
    assert list(df.columns[:8]) == ann.HOTSPOT_COLUMNS and "source" in df.columns
    assert ann.check_hotspots_against_fasta(df, FASTA) == []


def test_wrong_ref_aa_is_reported(tmp_path):
    p = write(tmp_path, "hs.tsv", HS_HEADER + "\nPLUSG\t1\tV\tchr1\t+\t11\t12\t13\nMINUSG\t2\tQ\tchr1\t+\t21\t22\t23\n")
    probs = ann.check_hotspots_against_fasta(ann.read_hotspots(p), FASTA)
    assert len(probs) == 2
    assert f"{p}:2: PLUSG codon 1" in probs[0] and "GGT = G, expected V" in probs[0]
    assert "MINUSG codon 2" in probs[1] and "TTG = L, expected Q" in probs[1]  # wrong strand given


def test_chr_prefix_mismatch_is_explained(tmp_path):
    p = write(tmp_path, "hs.tsv", HS_HEADER + "\nPLUSG\t1\tG\t1\t+\t11\t12\t13\nZ\t1\tG\tchrUn\t+\t1\t2\t3\n"
                                              "Y\t1\tG\tchr1\t+\t59\t60\t61\n")
    probs = ann.check_hotspots_against_fasta(ann.read_hotspots(p), FASTA)
    assert len(probs) == 3
    assert "contig '1' is not in FASTA" in probs[0] and "'chr1' (chr-prefix mismatch)" in probs[0]
    assert "chr-prefix" not in probs[1] and "genome build" in probs[1]
    assert "beyond the end of chr1 (60 bp)" in probs[2]
    fixed = ann.harmonize_chroms(ann.read_hotspots(p).iloc[:1], ["chr1"])
    assert ann.check_hotspots_against_fasta(fixed, FASTA) == []


def test_contig_alias():
    assert ann.contig_alias("1", ["chr1"]) == "chr1"
    assert ann.contig_alias("chr12", ["12"]) == "12"
    assert ann.contig_alias("MT", ["chrM"]) == "chrM"
    assert ann.contig_alias("chr5", ["1"]) is None


def test_missing_fasta_index(tmp_path):
    probs = ann.check_hotspots_against_fasta(ann.read_hotspots(DATA / "tiny_hotspots.tsv"), tmp_path / "x.fa")
    assert len(probs) == 1 and "cannot open FASTA" in probs[0]


def test_cli_exit_codes(tmp_path, capsys):
    assert ann.main(["--hotspots", str(DATA / "tiny_hotspots.tsv"), "--fasta", str(FASTA)]) == 0
    assert "all 2 codons agree" in capsys.readouterr().out
    bad = write(tmp_path, "hs.tsv", HS_HEADER + "\nPLUSG\t1\tV\tchr1\t+\t11\t12\t13\n")
    assert ann.main(["--hotspots", str(bad), "--fasta", str(FASTA)]) == 1
    assert "expected V" in capsys.readouterr().err
    malformed = write(tmp_path, "m.tsv", HS_HEADER + "\nPLUSG\t1\tV\tchr1\t+\t11\t12\n")
    assert ann.main(["--hotspots", str(malformed), "--fasta", str(FASTA)]) == 1
    assert f"{malformed}:2:" in capsys.readouterr().err


def test_cli_via_erbb_screen_entry_point(capsys):
    from erbbscreen import cli

    rc = cli.main(["check-hotspots", "--hotspots", str(DATA / "tiny_hotspots.tsv"), "--fasta", str(FASTA)])
    assert rc == 0


# ------------------------------------------------------------------------------------------------
# bundled resources: real cross-checks
# ------------------------------------------------------------------------------------------------

def test_mane_transcripts_shipped(mane):
    expected = {"ERBB2", "ERBB3", "KRAS", "NRAS", "BRAF", "PIK3CA", "NRG1", "EGFR", "MET", "CD74", "SLC3A2",
                "SDC4", "ATP1B1", "APP", "TNC", "MDK", "TENM4", "WRN", "SPPL2A", "VAMP2"}
    assert set(mane) == expected
    # MANE Select ids named independently in shared/README.md
    assert mane["KRAS"].transcript_id.startswith("ENST00000311936.")
    assert mane["ERBB2"].transcript_id.startswith("ENST00000269571.")
    assert mane["NRG1"].transcript_id.startswith("ENST00000405005.")
    # strands as in domain-spec §5
    minus = {"KRAS", "NRAS", "BRAF", "CD74", "SDC4", "APP", "TNC", "TENM4", "VAMP2"}
    for g, tx in mane.items():
        if g in minus or g == "SPPL2A":
            assert tx.strand == "-", g
        else:
            assert tx.strand == "+", g
    # complete CDS for every bundled gene (resources/derive_resources.py CDS_FACTS, sources per gene there)
    assert {g for g, t in mane.items() if t.has_cds} == expected
    assert all(t.cds_status == "complete" and t.cds_complete for t in mane.values())


def test_grch38_hotspots_match_mane_cds(mane):
    """codon_positions() round trip: every GRCh38 codon sits where the MANE exons put c.(3k-2..3k).

    The CDS comes from independent sources (cool-seq-tool/UTA coding sites, cancerhotspots v2 alleles; see
    resources/README.md); the 16 codons of the table, across exon boundaries, are independent checks.
    """
    df = ann.read_hotspots(RES / "GRCh38" / "hotspots.tsv")
    assert len(df) == 16
    assert ann.check_hotspots_against_transcripts(df, mane) == []
    for _, r in df.iterrows():
        assert mane[r.gene].codon_positions(r.codon) == (r.pos1, r.pos2, r.pos3)
        assert mane[r.gene].exon_number_at(r.pos1 - 1) == int(r.exon)
        assert all(c.startswith("pass") for c in df["mane_check"])


def test_transcript_check_catches_a_shift(mane):
    df = ann.read_hotspots(RES / "GRCh38" / "hotspots.tsv")
    shifted = df.copy()
    shifted.loc[shifted.gene == "NRAS", ["pos1", "pos2", "pos3"]] += 1
    probs = ann.check_hotspots_against_transcripts(shifted, mane)
    assert len(probs) == 6 and all("NRAS" in p for p in probs)


def test_grch37_table_consistent_with_grch38():
    h38 = ann.read_hotspots(RES / "GRCh38" / "hotspots.tsv")
    h37 = ann.read_hotspots(RES / "GRCh37" / "hotspots.tsv")
    key = ["gene", "codon", "ref_aa", "strand", "exon", "c_positions", "verified"]
    pd.testing.assert_frame_equal(h38[key], h37[key])
    assert (h38.chrom == "chr" + h37.chrom).all()
    # within one exon, codon spacing is build-independent
    for (g, e), grp in h38.groupby(["gene", "exon"]):
        g37 = h37.loc[grp.index]
        assert list(grp.pos1 - grp.pos1.iloc[0]) == list(g37.pos1 - g37.pos1.iloc[0]), (g, e)
    # c. arithmetic: within an exon, genomic distance = c. distance (sign by strand)
    for (g, e), grp in h38.groupby(["gene", "exon"]):
        step = 1 if grp.strand.iloc[0] == "+" else -1
        c_first = grp.c_positions.str.extract(r"c\.(\d+)-")[0].astype(int)
        assert list((grp.pos1 - grp.pos1.iloc[0]) * step) == list(c_first - c_first.iloc[0]), (g, e)


def test_gene_beds_parse():
    g38 = ann.read_genes(RES / "GRCh38" / "genes.bed")
    g37 = ann.read_genes(RES / "GRCh37" / "genes.bed")
    assert len(g38) == 20 and len(g37) == 19  # SPPL2A is not in domain-spec §5
    # KRAS GRCh37 span equals the independent BioMart export cited in domain-spec §5
    k = g37[g37.gene == "KRAS"].iloc[0]
    assert (k.chrom, k.start + 1, k.end, k.strand) == ("12", 25357723, 25403870, "-")


def test_read_domains(tmp_path):
    p = write(tmp_path, "d.bed", "chr8\t100\t200\tNRG1:EGF_like\t0\t+\nchr8\t300\t350\tNRG1:EGF_like\t0\t+\n")
    df = ann.read_domains(p)
    assert list(df.columns) == ann.DOMAIN_COLUMNS
    assert list(df.domain) == ["EGF_like"] * 2 and list(df.gene) == ["NRG1"] * 2
    bad = write(tmp_path, "b.bed", "chr8\t100\t200\tNRG1_EGF\t0\t+\n")
    with pytest.raises(InputError, match=r"b.bed:1: name 'NRG1_EGF' must be GENE:DOMAIN"):
        ann.read_domains(bad)
