"""The cohort report shows exactly what the tables say."""
import openpyxl
import pandas as pd

from erbbscreen.report import main, write_report
from erbbscreen.tables import write_table


def make_tables(d):
    write_table(pd.DataFrame([{"sample_id": "P1-T", "patient_id": "P1", "sample_type": "tumor", "status": "pass",
                               "reasons": "", "mean_target_depth": 210},
                              {"sample_id": "P2-T", "patient_id": "P2", "sample_type": "tumor", "status": "fail",
                               "reasons": "mean target depth 20x < minimum 100x"}]), d / "qc.tsv", "qc")
    write_table(pd.DataFrame([{"patient_id": "P1", "trial_id": "HERACLES_A", "status": "candidate",
                               "reasons": "ERBB2_CN 12 >= 6", "next_steps": "confirm HER2 by IHC/ISH"},
                              {"patient_id": "P2", "trial_id": "HERACLES_A", "status": "not_evaluable",
                               "reasons": "QC fail <b>", "next_steps": ""}]), d / "eligibility.tsv", "eligibility")
    write_table(pd.DataFrame([{"patient_id": "P1", "sample_id": "P1-T", "sample_type": "tumor",
                               "biomarker": "ERBB2_CN", "status": "positive", "value": "12.1",
                               "evidence": "amplification"}]), d / "biomarkers.tsv", "biomarkers")


def test_html_and_xlsx(tmp_path):
    make_tables(tmp_path)
    write_report(tmp_path, tmp_path / "r.html", tmp_path / "r.xlsx")
    page = (tmp_path / "r.html").read_text()
    assert "HERACLES_A" in page and ">candidate<" in page and ">not_evaluable<" in page
    assert "QC fail &lt;b&gt;" in page  # escaped, never raw HTML from a table
    assert "mean target depth 20x &lt; minimum 100x" in page
    wb = openpyxl.load_workbook(tmp_path / "r.xlsx")
    assert wb.sheetnames[0] == "eligibility"
    ws = wb["eligibility"]
    assert ws["C2"].value == "candidate" and ws["C2"].fill.fgColor.rgb.upper().endswith("1B7837")
    assert ws["C3"].value == "not_evaluable"


def test_cli_names_missing_tables(tmp_path, capsys):
    assert main(["--tables", str(tmp_path / "none")]) == 2
    assert "no qc.tsv or eligibility.tsv found" in capsys.readouterr().err
