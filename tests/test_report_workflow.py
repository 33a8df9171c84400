"""Report outputs of the session's cohort run (the `workflow_results` fixture: one full run per session):
one page per patient, figures as files, and `snakemake --report report.zip` with the results in it."""
import zipfile

import openpyxl
import pandas as pd

from conftest import run_snakemake


def test_every_patient_has_a_page(workflow_results):
    report = workflow_results / "results" / "report"
    samples = pd.read_csv(workflow_results / "results" / "tables" / "qc.tsv", sep="\t")
    for pid in samples["patient_id"].unique():
        page = report / "patients" / f"{pid}.html"
        assert page.is_file(), f"no page for {pid}"
        text = page.read_text()
        assert 'id="summary"' in text and 'id="provenance"' in text
        assert "data:image/png;base64," in text or pid not in set(
            samples.loc[samples["sample_type"].isin(["tumor", "plasma"]), "patient_id"])
    cohort = (report / "report.html").read_text()
    assert cohort.count('<tr><th><a href="patients/') == samples["patient_id"].nunique()
    # P08's CD74-NRG1 fusion is drawn (synthetic cohort: CD74 intron 6 -> NRG1 intron 5, EGF-like domain kept)
    p08 = (report / "patients" / "P08.html").read_text()
    assert "CD74 5′ (exons 1-6, break in intron 6)" in p08 and "EGF-like domain KEPT" in p08
    figures = report / "figures"
    assert (figures / "copy_number" / "P01-T.png").stat().st_size > 1000
    assert (figures / "hotspots" / "P01-T.png").stat().st_size > 1000
    assert list((figures / "fusions").glob("P08-T.CD74-NRG1.*.svg"))
    wb = openpyxl.load_workbook(report / "erbb-screen.xlsx", read_only=True)
    assert {"eligibility", "criteria", "funnel", "biomarkers", "copy_number", "hotspots", "fusions",
            "qc"} <= set(wb.sheetnames)


def test_snakemake_report_zip(workflow_results, tmp_path):
    out = tmp_path / "report.zip"
    proc = run_snakemake(workflow_results, "--report", str(out), configfile=workflow_results / "cohort.yaml")
    assert proc.returncode == 0, proc.stderr[-4000:]
    with zipfile.ZipFile(out) as z:
        names = z.namelist()
        index = z.read("report/report.html").decode()
    # the results, not only runtimes: the three categories, a page per patient, the workbook, the figures
    assert all(c in index for c in ("1. Cohort", "2. Patients", "3. Figures"))
    patients = pd.read_csv(workflow_results / "results" / "tables" / "qc.tsv", sep="\t")["patient_id"].unique()
    for pid in patients:
        assert any(n.endswith(f"/{pid}.html") for n in names), pid
    assert any(n.endswith("/erbb-screen.xlsx") for n in names)
    assert any(n.endswith("/copy_number/P01-T.png") for n in names)
