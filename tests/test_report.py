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


def test_cli_threads(results, tmp_path, capsys):
    assert main(["--results", str(results), "--out-dir", str(tmp_path), "--threads", "0"]) == 2
    assert "--threads 0" in capsys.readouterr().err
    assert main(["--results", str(results), "--out-dir", str(tmp_path), "--threads", "2"]) == 0
    ids = load_run(results / "tables", results / "eligibility" / "patients").patient_ids()
    assert sorted(p.stem for p in (tmp_path / "patients").glob("*.html")) == ids
    assert (tmp_path / "erbb-screen.xlsx").is_file() and (tmp_path / "report.html").is_file()


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


def _page_text(path: Path) -> str:
    """A page without its creation time (the one part that differs between two builds)."""
    return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", "<created>", path.read_text())


def test_pages_in_parallel_are_the_pages_of_one_process(results, tmp_path):
    """workers=2 (forked processes) writes the same pages and workbook as workers=1."""
    one, two = tmp_path / "one", tmp_path / "two"
    build(results, one)
    run = write_report(results / "tables", two / "report.html", two / "erbb-screen.xlsx",
                       results / "eligibility" / "patients", figures_dir=two / "figures", workers=2)
    ids = run.patient_ids()
    assert len(ids) > 2
    assert sorted(p.name for p in (two / "patients").iterdir()) == sorted(f"{p}.html" for p in ids)
    for page in ["report.html"] + [f"patients/{p}.html" for p in ids]:
        assert _page_text(two / page) == _page_text(one / page), page
    sheets = [pd.read_excel(d / "erbb-screen.xlsx", sheet_name=None) for d in (one, two)]
    assert list(sheets[0]) == list(sheets[1])
    for name in sheets[0]:
        pd.testing.assert_frame_equal(sheets[0][name], sheets[1][name])


def test_a_page_that_fails_in_a_worker_fails_the_report(results, tmp_path):
    """A page that cannot be written (a folder stands at its path) raises in the caller, naming the file."""
    blocked = tmp_path / "patients" / "P01.html"
    blocked.mkdir(parents=True)
    with pytest.raises(OSError) as err:
        write_report(results / "tables", tmp_path / "report.html", tmp_path / "erbb-screen.xlsx",
                     results / "eligibility" / "patients", workers=2)
    assert "P01.html" in str(err.value)


def _texts_inside_and_apart(fig):
    """Everything drawn lies on the canvas (what ``bbox_inches="tight"`` would have measured), no panel title
    overlaps the figure title and no axis label overlaps its tick labels or another panel."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    drawn, (width, height) = fig.get_tightbbox(renderer), fig.get_size_inches()  # inches
    tolerance = 1 / fig.dpi
    assert drawn.x0 >= -tolerance and drawn.y0 >= -tolerance, f"cut left/bottom: {drawn}"
    assert drawn.x1 <= width + tolerance and drawn.y1 <= height + tolerance, f"cut right/top: {drawn}"
    figure_texts = [t.get_window_extent(renderer) for t in fig.texts]  # the suptitle
    for ax in fig.axes:
        title = ax.title.get_window_extent(renderer)
        assert not any(title.overlaps(t) for t in figure_texts), f"{ax.get_title()!r} on the figure title"
        others = [o.bbox for o in fig.axes if o is not ax]
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            locs = axis.get_majorticklocs()
            labels = [t.label1.get_window_extent(renderer) for loc, t in zip(locs, axis.get_major_ticks(len(locs)))
                      if lo <= loc <= hi and t.label1.get_text()]
            label = axis.label.get_window_extent(renderer)
            for box in [label] + labels:
                assert not any(box.overlaps(o) for o in others), f"{axis.label.get_text()!r}: on another panel"
            assert not any(label.overlaps(b) for b in labels), f"{axis.label.get_text()!r} on its tick labels"


def _synthetic_codons() -> list:
    """32 synthetic codons: detected without a limit, clean with limits, not evaluable without a limit."""
    rows = [("PIK3CA", 1047, "detected", 0.31, None), ("KRAS", 12, "not_detected", 0.0, 0.02),
            ("NRAS", 146, "not_evaluable", None, None), ("BRAF", 600, "not_detected", 0.004, 0.006)] * 8
    return [{"label": f"{g} {c}", "status": s, "vaf": v, "lod": lod} for g, c, s, v, lod in rows]


def _synthetic_bins() -> tuple:
    """Synthetic CNVkit bins and segments around ERBB2 (amplified, wide log2 range) and ERBB3, and the
    copy_number.tsv rows: ERBB2 with position and CI, ERBB3 located by its bins only."""
    starts = list(range(38_000_000, 41_000_000, 20_000))
    bins = [("chr17", s, "ERBB2" if 39_680_000 <= s < 39_730_000 else "-", -2.75 if i % 7 else 4.5)
            for i, s in enumerate(starts)]
    bins += [("chr12", s + 17_000_000, "ERBB3" if i == 70 else "-", -0.125 * (i % 9)) for i, s in enumerate(starts)]
    cnr = pd.DataFrame([{"chromosome": c, "start": s, "end": s + 20_000, "gene": g, "log2": v} for c, s, g, v in bins])
    cns = pd.DataFrame({"chromosome": ["chr17", "chr12"], "start": [38_000_000, 55_000_000],
                        "end": [41_000_000, 58_000_000], "log2": [-1.25, -0.5]})
    erbb2 = {"chrom": "chr17", "start": 39_687_914, "end": 39_730_426, "log2": 3.1, "ci_low": 2.9, "ci_high": 3.3,
             "call": "amplification", "copy_number": 18.25, "cn_ci_low": 16.5, "cn_ci_high": 20.75,
             "sample_type": "plasma"}
    erbb3 = dict(erbb2, chrom=None, start=None, end=None, call="not_evaluable", log2=None)
    return cnr, cns, {"ERBB2": erbb2, "ERBB3": erbb3}


def test_figures_fit_their_fixed_margins():
    """The figures are laid out with fixed margins (no tight_layout): long codon labels, two panels with wide
    tick labels and long titles must still be fully on the canvas (synthetic bins and codons)."""
    from erbbscreen.report.plots import region_figure, vaf_lod_figure

    codons = _synthetic_codons()
    _texts_inside_and_apart(vaf_lod_figure(codons, "plasma P99-L", 0.005))
    _texts_inside_and_apart(vaf_lod_figure(codons[:2], "tumour P99-T", None))
    cnr, cns, genes = _synthetic_bins()
    fig = region_figure(cnr, cns, genes, "plasma P99-L: CNVkit bins")
    assert [ax.get_xlabel() for ax in fig.axes] == ["chr17 position (Mb)", "chr12 position (Mb)"]
    _texts_inside_and_apart(fig)
    assert region_figure(cnr.iloc[0:0], cns, {"ERBB2": genes["ERBB2"]}, "empty") is None


def test_a_reused_figure_draws_what_a_new_figure_draws(monkeypatch):
    """Plots reuse the previous figure of their kind (cleared): every PNG must equal, byte for byte, the PNG of a
    new figure, whatever was drawn before (bins then no bins, codons with and without limits, NE only)."""
    from erbbscreen.report import plots

    codons = _synthetic_codons()
    cnr, cns, genes = _synthetic_bins()
    shifted = cnr.assign(log2=cnr["log2"] / 4 + 0.5, start=cnr["start"] + 400_000, end=cnr["end"] + 400_000)
    calls = [(plots.vaf_lod_plot, (codons, "all", 0.005)),
             (plots.region_plot, (cnr, cns, genes, "two panels")),
             (plots.vaf_lod_plot, (codons[2::4], "not evaluable only", None)),
             (plots.region_plot, (shifted, None, genes, "shifted, no segments")),
             (plots.region_plot, (cnr[cnr["chromosome"] == "chr17"], cns, genes, "ERBB3 without bins")),
             (plots.vaf_lod_plot, (codons[:16], "first half", 0.05)),
             (plots.region_plot, (cnr, cns, {"ERBB2": genes["ERBB2"]}, "one panel")),
             (plots.region_plot, (cnr, cns, genes, "two panels again")),
             (plots.vaf_lod_plot, (codons, "all again", 0.005))]
    monkeypatch.setattr(plots, "_FIGURES", {})
    reused = [plot(*args) for plot, args in calls]
    assert len(plots._FIGURES) == 5  # region: 1 and 2 panels; VAF: 32, 16 and 8 codons (widths differ)
    monkeypatch.setattr(plots, "REUSE_FIGURES", False)
    new = [plot(*args) for plot, args in calls]
    assert all(reused) and reused == new
