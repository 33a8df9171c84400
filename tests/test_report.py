"""Report pages and workbook built from real engine output (the hand-written eligibility cohort of
tests/data/eligibility, run through the eligibility engine here), plus the report's own small computations."""
import json
import re
import shutil
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from scipy import stats

from erbbscreen import eligibility
from erbbscreen.report import load_run, main, write_report
from erbbscreen.report.criteria import criterion_row, trial_model
from erbbscreen.report.data import codon_lod
from erbbscreen.report.patient import patient_page
from erbbscreen.report.plots import fusion_svg, parse_location
from erbbscreen.tables import write_table

DATA = Path(__file__).parent / "data" / "eligibility"


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """A results/ folder: tables (qc, biomarkers, eligibility, funnel) + evidence traces from the real engine."""
    root = tmp_path_factory.mktemp("results")
    tables = root / "tables"
    tables.mkdir()
    shutil.copy(DATA / "cohort_qc.tsv", tables / "qc.tsv")
    shutil.copy(DATA / "cohort_biomarkers.tsv", tables / "biomarkers.tsv")
    eligibility.run(tables / "biomarkers.tsv", tables / "qc.tsv", out_table=tables / "eligibility.tsv",
                    out_funnel=tables / "funnel.tsv", out_patients=root / "eligibility" / "patients")
    return root


def build(results: Path, out: Path):
    return write_report(results / "tables", out / "report.html", out / "erbb-screen.xlsx",
                        results / "eligibility" / "patients", figures_dir=out / "figures")


def test_pages_for_every_patient_and_links(results, tmp_path):
    run = build(results, tmp_path)
    ids = run.patient_ids()
    assert ids and all((tmp_path / "patients" / f"{p}.html").is_file() for p in ids)
    cohort = (tmp_path / "report.html").read_text()
    for p in ids:
        assert f'href="patients/{p}.html"' in cohort
    elig = pd.read_csv(results / "tables" / "eligibility.tsv", sep="\t")
    # every matrix cell links to the patient's section of that trial, and that section exists on the page
    for r in elig.head(40).itertuples():
        assert f'href="patients/{r.patient_id}.html#trial-{r.trial_id}"' in cohort
        assert f'id="trial-{r.trial_id}"' in (tmp_path / "patients" / f"{r.patient_id}.html").read_text()
    # self-contained: no external resource of any kind
    for page in [cohort] + [(tmp_path / "patients" / f"{p}.html").read_text() for p in ids]:
        assert not re.search(r'(src|href)="(https?:)?//', page)
        assert "<link " not in page


def test_patient_page_answers_the_board_question(results, tmp_path):
    """P01: ERBB2 amplified in tissue (CN 12.1): candidate for HERACLES_A with IHC/ISH confirmation pending."""
    build(results, tmp_path)
    page = (tmp_path / "patients" / "P01.html").read_text()
    summary = page[page.index('id="summary"'):page.index('id="trials"')]
    assert "ERBB2 amplified" in summary and "CN 12.1" in summary
    assert "RAS/BRAF wild type at 13 codons" in summary
    row = page[page.index('id="row-HERACLES_A"'):]
    row = row[:row.index("</tr>")]
    assert ">candidate<" in row and "confirm HER2 by IHC/ISH" in row
    section = page[page.index('id="trial-HERACLES_A"'):]
    section = section[:section.index("</details>")]
    # the criteria table: state, observed per sample, threshold, verification label
    assert 'data-criterion="erbb2_dna_screen"' in section and ">ASSUMED<" in section
    assert "tumour P01-T</b>: CN 12.1 (amplification)" in section
    assert "ERBB2 amplification call of the copy-number stage" in section  # threshold, without the samples part
    assert 'class="caveat"' in section  # the subclonal plasma KRAS note is highlighted


def test_rendering_never_reads_the_reason_strings(results, tmp_path):
    """Blank every free-text reason of the evidence traces: the criteria tables must not change."""
    blanked = tmp_path / "blanked"
    shutil.copytree(results, blanked)
    for path in (blanked / "eligibility" / "patients").glob("*.json"):
        doc = json.loads(path.read_text())
        for t in doc["trials"]:
            t["reasons"] = ["REASONS-STRING"]
            for c in t["criteria"]:
                c["reason"] = c["summary"] = "REASON-STRING"
        path.write_text(json.dumps(doc))
    original, changed = load_run(results / "tables", results / "eligibility" / "patients"), \
        load_run(blanked / "tables", blanked / "eligibility" / "patients")

    def criteria_tables(html):
        return re.findall(r'<table class="criteria">.*?</table>', html, flags=re.S)

    for pid in ("P01", "P05", "P08"):
        a, b = patient_page(original, pid), patient_page(changed, pid)
        assert criteria_tables(a) == criteria_tables(b)
        assert "REASON" not in b


def test_criterion_row_from_structured_fields():
    crit = {"criterion": "amp", "label": "ERBB2 amplified", "kind": "erbb2_amplification", "role": "target",
            "verified": False, "evaluable_by": "dna", "samples": ["tumor", "plasma"], "crosscheck": [],
            "sources": ["S2 §3"], "value": "unknown", "unknown_cause": "insufficient_evidence",
            "threshold": "ERBB2 purity-corrected CN >= 6", "notes": ["DISCORDANT tumour/plasma"], "review": [],
            "remedies": ["HER2 ISH"],
            "findings": [{"sample_id": "X-T", "sample_type": "tumor", "use": "accepted", "value": "unknown",
                          "text": "free text", "data": {"metric": "tissue_cn", "measured": 6.2, "ci_low": 5.1,
                                                        "ci_high": 7.4, "call": "gain"}}]}
    r = criterion_row(crit)
    assert r["state"] == "unknown" and r["cause"] == "insufficient DNA evidence"
    assert r["observed"][0]["text"] == "CN 6.2 [5.1-7.4] (gain)"
    assert r["verified"] == "UNVERIFIED" and r["samples"] == "tumour + plasma"
    assert r["caveats"] == ["DISCORDANT tumour/plasma"] and r["remedies"] == ["HER2 ISH"]
    t = trial_model({"trial_id": "T", "status": "not_evaluable", "decided_by": ["amp"], "criteria": [crit],
                     "caveats": ["wild type rests on an estimated purity"]})
    assert t["one_line"] == "Missing DNA evidence: ERBB2 amplified (CN 6.2 [5.1-7.4] (gain))"
    assert t["caveats"] == ["wild type rests on an estimated purity"]
    assert t["unverified"] == ["ERBB2 amplified (UNVERIFIED)"]


def test_codon_lod_is_where_the_power_is_reached():
    lod = codon_lod(400, 6, 0.8)
    assert stats.binom.sf(5, 400, lod) == pytest.approx(0.8, abs=1e-6)
    assert codon_lod(1000, 6, 0.8) < lod  # deeper codon, lower limit
    assert codon_lod("", 6, 0.8) is None and codon_lod(10, 0, 0.8) is None


def test_fusion_diagram_states_exons_domain_and_support():
    row = {"gene_5p": "CD74", "gene_3p": "NRG1", "location_5p": "CD74 intron 6", "location_3p": "NRG1 intron 5",
           "egf_domain_retained": "yes", "frame": "in_frame", "split_reads": "12", "discordant_pairs": "4",
           "chrom_5p": "chr5", "pos_5p": "141896", "chrom_3p": "chr8", "pos_3p": "159769"}
    svg = fusion_svg(row, {"CD74": 8, "NRG1": 12}, egf_exons=[7])
    assert "CD74 5′ (exons 1-6, break in intron 6)" in svg
    assert "NRG1 3′ (break in intron 5, exons 6-12)" in svg
    assert "EGF-like domain KEPT" in svg and "split reads 12" in svg and "discordant pairs 4" in svg
    assert "LOST" in fusion_svg(dict(row, egf_domain_retained="no"))
    assert parse_location("NRG1 exon 2") == ("exon", 2) and parse_location("upstream") == (None, None)


def test_workbook_sheets_frozen_and_coloured(results, tmp_path):
    build(results, tmp_path)
    wb = openpyxl.load_workbook(tmp_path / "erbb-screen.xlsx")
    assert wb.sheetnames[:3] == ["eligibility", "criteria", "funnel"]
    assert {"biomarkers", "copy_number", "hotspots", "fusions", "qc"} <= set(wb.sheetnames)
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A2"
    ws = wb["eligibility"]
    header = [c.value for c in ws[1]]
    col = header.index("status") + 1
    cand = next(r for r in range(2, ws.max_row + 1) if ws.cell(r, col).value == "candidate")
    assert ws.cell(cand, col).fill.fgColor.rgb.upper().endswith("1B7837")
    crit = wb["criteria"]
    header = [c.value for c in crit[1]]
    assert {"result", "observed", "threshold", "samples", "sources", "verified"} <= set(header)
    assert crit.max_row > 100


def test_table_text_is_escaped(tmp_path):
    tables = tmp_path / "tables"
    write_table(pd.DataFrame([{"sample_id": "P2-T", "patient_id": "P2", "sample_type": "tumor", "status": "fail",
                               "reasons": "depth <b>20x</b> < 100"}]), tables / "qc.tsv", "qc")
    write_report(tables, tmp_path / "r.html", tmp_path / "r.xlsx")
    page = (tmp_path / "patients" / "P2.html").read_text()
    assert "depth &lt;b&gt;20x&lt;/b&gt; &lt; 100" in page and "<b>20x</b>" not in page


def test_cli_names_missing_tables(tmp_path, capsys):
    assert main(["--results", str(tmp_path / "none")]) == 2
    assert "no qc.tsv or eligibility.tsv found" in capsys.readouterr().err


def test_purity_and_caveats_from_the_purity_stage_are_shown(results, tmp_path):
    """purity.tsv (interval, source, states) and the eligibility `caveats` column are rendered when present."""
    res = tmp_path / "res"
    shutil.copytree(results, res)
    write_table(pd.DataFrame([{"sample_id": "P01-T", "patient_id": "P01", "sample_type": "tumor", "purity": "0.58",
                               "purity_low": "0.50", "purity_high": "0.66", "source": "estimated",
                               "states": "LOW_PURITY", "reason": "few informative SNPs"}]),
                res / "tables" / "purity.tsv")
    elig = pd.read_csv(res / "tables" / "eligibility.tsv", sep="\t", dtype=str, keep_default_na=False)
    elig["caveats"] = ""
    elig.loc[(elig["patient_id"] == "P01") & (elig["trial_id"] == "HERACLES_A"), "caveats"] = \
        "RAS wild type rests on clonal power at an estimated purity"
    write_table(elig, res / "tables" / "eligibility.tsv", "eligibility")
    build(res, tmp_path / "out")
    page = (tmp_path / "out" / "patients" / "P01.html").read_text()
    summary = page[page.index('id="summary"'):page.index('id="trials"')]
    assert "purity 0.58 [0.50-0.66] estimated (LOW_PURITY)" in summary
    assert '<div class="caveat">tumour P01-T: purity states LOW_PURITY (few informative SNPs)</div>' in summary
    row = page[page.index('id="row-HERACLES_A"'):]
    assert '<div class="caveat">RAS wild type rests on clonal power at an estimated purity</div>' in \
        row[:row.index("</tr>")]
    assert "purity" in openpyxl.load_workbook(tmp_path / "out" / "erbb-screen.xlsx", read_only=True).sheetnames
