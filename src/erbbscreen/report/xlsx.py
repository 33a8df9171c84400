"""One workbook with every result table (one sheet each), plus the criteria of every verdict as rows.

Header frozen and bold, status cells coloured, columns sized to content; cells longer than Excel's limit are
cut with a note (the TSVs keep the full text)."""
from __future__ import annotations

import pandas as pd

from erbbscreen.report.criteria import criterion_row
from erbbscreen.report.data import TABLES, RunData
from erbbscreen.report.fmt import STATUS_COLOURS

STATUS_COLUMNS = ("status", "call", "result", "qc_status")
EXCEL_CELL_MAX = 32767


def criteria_frame(run: RunData) -> pd.DataFrame:
    """patient x trial x criterion rows from the evidence traces (the structured form of eligibility.tsv)."""
    rows = []
    for pid, doc in sorted(run.patients.items()):
        for t in doc.get("trials") or []:
            for c in t.get("criteria") or []:
                r = criterion_row(c)
                rows.append({"patient_id": pid, "trial_id": t.get("trial_id"), "status": t.get("status"),
                             "criterion": r["id"], "label": r["label"], "role": r["role"], "result": r["state"],
                             "unknown_cause": r["cause"],
                             "observed": " | ".join(f"{o['sample_id']}: {o['text']}" if o["sample_id"] else o["text"]
                                                    for o in r["observed"]),
                             "threshold": r["threshold"], "samples": r["samples"], "sources": r["sources"],
                             "verified": r["verified"], "caveats": " | ".join(r["caveats"]),
                             "decides": "yes" if r["id"] in (t.get("decided_by") or []) else ""})
    cols = ["patient_id", "trial_id", "status", "criterion", "label", "role", "result", "unknown_cause", "observed",
            "threshold", "samples", "sources", "verified", "caveats", "decides"]
    return pd.DataFrame(rows, columns=cols)


def write_xlsx(run: RunData, out) -> list:
    """Write the workbook; returns the sheet names in order."""
    from openpyxl.styles import Font, PatternFill

    styles = {c: (PatternFill("solid", fgColor=c.lstrip("#")), Font(color="FFFFFF", bold=True))
              for c in set(STATUS_COLOURS.values())}  # one style object per colour, shared by its cells
    sheets = [(name, run.table(name)) for name in TABLES if name != "purity" or not run.table(name).empty]
    sheets.insert(1, ("criteria", criteria_frame(run)))
    with pd.ExcelWriter(out, engine="openpyxl") as xl:
        for name, df in sheets:
            df = df.copy()
            for col in df.columns:
                if df[col].dtype == object:
                    df[col] = df[col].map(lambda v: v if not isinstance(v, str) or len(v) <= EXCEL_CELL_MAX
                                          else v[: EXCEL_CELL_MAX - 40] + " ... [cut: full text in the TSV]")
            df.to_excel(xl, sheet_name=name, index=False)
            ws = xl.sheets[name]
            ws.freeze_panes = "A2"
            for cell in ws[1]:
                cell.font = Font(bold=True)
            for idx, col in enumerate(df.columns, start=1):
                values = [len(str(v)) for v in df[col].head(300)] if len(df) else []
                ws.column_dimensions[ws.cell(1, idx).column_letter].width = min(max([len(str(col))] + values) + 2,
                                                                                60)
                if col not in STATUS_COLUMNS:
                    continue
                for row in range(2, len(df) + 2):
                    cell = ws.cell(row, idx)
                    colour = STATUS_COLOURS.get(str(cell.value))
                    if colour:
                        cell.fill, cell.font = styles[colour]
            if len(df.columns):
                ws.auto_filter.ref = ws.dimensions
    return [n for n, _ in sheets]
