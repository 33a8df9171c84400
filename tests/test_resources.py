"""Build-time consistency of the bundled annotation (resources/GRCh38, resources/GRCh37).

The facts (protein lengths, CDS sources) live in resources/derive_resources.py with their citations; these
tests prove the shipped files agree with them and with each other: CDS length = 3 x (protein length + 1),
stop codon in the expected exon, every hotspot codon on c.(3k-2..3k) of its gene's CDS, the NRG1 EGF-like
domain on the CDS codons it names, and the GRCh37 models the same transcripts as the GRCh38 ones.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from erbbscreen.annotation import check_hotspots_against_transcripts, read_domains, read_hotspots, read_transcripts

RES = Path(__file__).resolve().parents[1] / "resources"
_spec = importlib.util.spec_from_file_location("derive_resources", RES / "derive_resources.py")
derive = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(derive)

BUILDS = ("GRCh38", "GRCh37")
SCREENED = ["ERBB2", "ERBB3", "EGFR", "KRAS", "NRAS", "BRAF", "PIK3CA", "NRG1"]
#: NRG1 fusion partners (fusions.partners) and MET: CDS from the GENCODE start/stop codons (derive_resources.py)
PARTNERS = ["CD74", "SLC3A2", "SDC4", "ATP1B1", "APP", "TNC", "MDK", "TENM4", "WRN", "SPPL2A", "VAMP2"]
#: partners placed on GRCh37 (an offset confirmed by two sources); the others are absent there (resources/README.md)
PARTNERS_GRCH37 = ["CD74", "SDC4"]


@pytest.fixture(scope="module", params=BUILDS)
def build(request):
    b = request.param
    return b, read_transcripts(RES / b / "transcripts.bed12")


def test_screened_genes_partners_and_met_have_complete_cds(build):
    name, tx = build
    genes = SCREENED + ["MET"] + (PARTNERS if name == "GRCh38" else PARTNERS_GRCH37)
    assert set(genes) <= set(tx), (name, sorted(set(genes) - set(tx)))
    for gene in genes:
        t = tx[gene]
        aa = derive.CDS_FACTS[gene]["aa"]
        assert t.cds_status == "complete", (name, gene)
        assert t.cds_length == 3 * (aa + 1), (name, gene, t.cds_length, aa)
        stop_exon = t.exon_number_at(t.cdna_to_genome(t.cds_length))
        assert stop_exon == derive.EXPECTED_STOP_EXON.get(gene, len(t.exons)), (name, gene, stop_exon)
        # the stop codon's three bases and c.1 are exonic and in transcript order
        assert t.genome_to_cdna(t.cdna_to_genome(1)) == 1


def test_every_hotspot_codon_is_on_its_cds_codon(build):
    name, tx = build
    hs = read_hotspots(RES / name / "hotspots.tsv")
    assert len(hs) == 16
    assert check_hotspots_against_transcripts(hs, tx) == []
    for row in hs.itertuples():
        t = tx[row.gene]
        c = [t.genome_to_cdna(p - 1) for p in (row.pos1, row.pos2, row.pos3)]
        assert c == [3 * row.codon - 2, 3 * row.codon - 1, 3 * row.codon], (name, row.gene, row.codon, c)


def test_nrg1_egf_domain_maps_to_its_codons(build):
    name, tx = build
    dom = read_domains(RES / name / "domains.bed")
    egf = dom[(dom["gene"] == "NRG1") & (dom["domain"] == "EGF_like")]
    (gene, dname, a1, a2, _src), = derive.DOMAINS
    assert len(egf) == 2                        # split over exons 6 and 7 of the MANE model
    assert int((egf["end"] - egf["start"]).sum()) == 3 * (a2 - a1 + 1)
    t = tx["NRG1"]
    cs = sorted(t.genome_to_cdna(p) for r in egf.itertuples() for p in range(r.start, r.end))
    assert cs == list(range(3 * a1 - 2, 3 * a2 + 1))
    assert sorted(t.exon_number_at(r.start) for r in egf.itertuples()) == [6, 7]


def test_grch37_models_are_the_grch38_transcripts():
    t38 = read_transcripts(RES / "GRCh38" / "transcripts.bed12")
    t37 = read_transcripts(RES / "GRCh37" / "transcripts.bed12")
    assert set(SCREENED) | {"CD74", "SDC4", "MET"} <= set(t37)
    for gene, b in t37.items():
        a = t38[gene]
        assert (a.transcript_id, a.strand, a.cds_status) == (b.transcript_id, b.strand, b.cds_status)
        assert [e - s for s, e in a.exons] == [e - s for s, e in b.exons], gene
        assert a.cds_length == b.cds_length and a.coding_exon_phases() == b.coding_exon_phases(), gene
        assert a.chrom == "chr" + b.chrom


def test_partner_cds_comes_from_the_gencode_codons_and_a_refseq_protein_length():
    """Each partner's CDS runs from its GENCODE start codon to its stop codon (derive_resources.GENCODE_CODONS),
    and that span is 3 x (RefSeq protein length + 1); the same rule reproduces the eight independently sourced
    CDS of the screened genes (so it picks the MANE CDS, not another isoform's)."""
    t38 = read_transcripts(RES / "GRCh38" / "transcripts.bed12")
    for gene in SCREENED + ["MET"] + PARTNERS:
        t = t38[gene]
        chrom, c1, stop_last, _n_starts, _n_stops = derive.GENCODE_CODONS[gene]
        assert (t.chrom, t.cdna_to_genome(1) + 1, t.cdna_to_genome(t.cds_length) + 1) == (chrom, c1, stop_last), gene
    # the protein lengths behind the partners' CDS (RefSeq proteins of the MANE pairs, maftools table)
    assert {g: derive.CDS_FACTS[g]["aa"] for g in ("CD74", "SLC3A2", "SDC4", "MET")} == \
        {"CD74": 296, "SLC3A2": 529, "SDC4": 198, "MET": 1390}
    # MET: the cancerhotspots alleles leave c.1 at spliced offset 395 or 396; the GENCODE codons say 396
    met = t38["MET"]
    assert met.genome_to_transcript(met.cdna_to_genome(1)) - 1 == 396
    checks = (RES / "cds_checks.tsv").read_text()
    assert "MET\tc1_vs_cancerhotspots\tpass\tc.1 offset 396; alleles allow [395, 396]" in checks
    assert sum(1 for ln in checks.splitlines() if "\tgencode_codons\tpass\t" in ln) == len(SCREENED)


def test_published_variants_land_on_their_c_position():
    """Variants published with a GRCh38 position and a c. position (APP: genebe, Alzforum) sit on that c. position of
    the shipped CDS: an independent check of the GENCODE-codon rule on a partner gene."""
    t38 = read_transcripts(RES / "GRCh38" / "transcripts.bed12")
    n = 0
    for gene, rows in derive.ANCHOR_VARIANTS.items():
        for chrom, pos, c, _src in rows:
            assert (t38[gene].chrom, t38[gene].genome_to_cdna(pos - 1)) == (chrom, c), (gene, pos, c)
            n += 1
    assert n >= 3


def test_partners_without_a_grch37_source_are_absent_on_grch37():
    t37 = read_transcripts(RES / "GRCh37" / "transcripts.bed12")
    assert not (set(PARTNERS) - set(PARTNERS_GRCH37)) & set(t37)
    checks = (RES / "cds_checks.tsv").read_text()
    for gene in set(PARTNERS) - set(PARTNERS_GRCH37):
        assert f"{gene}\tgrch37_offset\tmissing\t" in checks, gene


def test_derivation_checks_all_passed():
    rows = [ln.split("\t") for ln in (RES / "cds_checks.tsv").read_text().splitlines()[1:]]
    assert rows and not [r for r in rows if r[2].startswith("FAIL")]
    for b in BUILDS:
        hs = (RES / b / "hotspots.tsv").read_text()
        assert "FAIL" not in hs
