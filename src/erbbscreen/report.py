"""Cohort report: one self-contained HTML page and an XLSX workbook built from the published tables.

The report reads only results/tables/*.tsv (and, when present, each sample's ERBB2 zoom plot); it computes
nothing new, so what it shows is exactly what the tables say.
"""
from __future__ import annotations

import argparse
import base64
import html
import sys
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from erbbscreen import __version__
from erbbscreen.tables import read_table

STATUS_COLOURS = {
    "candidate": "#1b7837", "excluded": "#b2182b", "screen_negative": "#878787", "not_evaluable": "#e08214",
    "not_assessable": "#5e3c99",
    "positive": "#1b7837", "negative": "#878787", "pass": "#1b7837", "fail": "#b2182b",
    "detected": "#b2182b", "not_detected": "#878787", "amplification": "#b2182b", "gain": "#f4a582",
    "neutral": "#878787", "loss": "#4393c3",
}
TABLES = ("qc", "copy_number", "hotspots", "fusions", "biomarkers", "eligibility", "funnel")
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em;color:#222;max-width:1400px}
h1{margin-bottom:0}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
.meta{color:#666;font-size:.9em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3;position:sticky;top:0}
.badge{display:inline-block;padding:.1em .5em;border-radius:.8em;color:#fff;font-size:.85em;white-space:nowrap}
.matrix td{text-align:center}.legend span{margin-right:1em}
details{margin:.3em 0}summary{cursor:pointer;font-weight:600}
.patient{border:1px solid #ddd;border-radius:6px;padding:.5em 1em;margin:1em 0}
.small{font-size:.8em;color:#555}
img{max-width:640px;border:1px solid #eee}
.scroll{overflow-x:auto;max-width:100%}
"""


def badge(status: str) -> str:
    colour = STATUS_COLOURS.get(status, "#555")
    return f'<span class="badge" style="background:{colour}">{html.escape(status or "-")}</span>'


def _table_html(df: pd.DataFrame, status_cols=("status", "call"), max_rows=None) -> str:
    if df is None or df.empty:
        return "<p class='small'>(no rows)</p>"
    if max_rows:
        df = df.head(max_rows)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for _, r in df.iterrows():
        cells = []
        for c in df.columns:
            v = "" if pd.isna(r[c]) else str(r[c])
            cells.append(f"<td>{badge(v) if c in status_cols and v else html.escape(v)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"


def load_tables(tables_dir) -> dict[str, pd.DataFrame]:
    out = {}
    for name in TABLES:
        path = Path(tables_dir) / f"{name}.tsv"
        out[name] = read_table(path) if path.exists() else pd.DataFrame()
    return out


def _matrix(elig: pd.DataFrame) -> str:
    if elig.empty:
        return "<p class='small'>(no eligibility table)</p>"
    trials = list(dict.fromkeys(elig["trial_id"]))
    patients = list(dict.fromkeys(elig["patient_id"]))
    cell = {(r.patient_id, r.trial_id): r for r in elig.itertuples()}
    head = "<th>patient</th>" + "".join(f"<th>{html.escape(t)}</th>" for t in trials)
    rows = []
    for p in patients:
        tds = []
        for t in trials:
            r = cell.get((p, t))
            if r is None:
                tds.append("<td></td>")
                continue
            tip = html.escape(f"{r.reasons}\nNext: {r.next_steps}")
            tds.append(f'<td title="{tip}">{badge(r.status)}</td>')
        rows.append(f"<tr><th><a href='#patient-{html.escape(p)}'>{html.escape(p)}</a></th>{''.join(tds)}</tr>")
    legend = "".join(f"<span>{badge(s)}</span>" for s in
                     ("candidate", "excluded", "screen_negative", "not_evaluable", "not_assessable"))
    return (f"<p class='legend'>{legend}</p><p class='small'>Hover a cell for its reasons and next steps.</p>"
            f"<div class='scroll'><table class='matrix'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f"<img alt='{html.escape(path.name)}' src='data:image/png;base64,{data}'>"


def _patients(t: dict[str, pd.DataFrame], plots: dict[str, Path]) -> str:
    elig, bm, qc = t["eligibility"], t["biomarkers"], t["qc"]
    patients = list(dict.fromkeys(list(elig.get("patient_id", [])) + list(qc.get("patient_id", []))))
    parts = []
    for p in patients:
        e = elig[elig["patient_id"] == p] if not elig.empty else elig
        counts = e["status"].value_counts().to_dict() if not e.empty else {}
        summary = " ".join(f"{badge(s)}&nbsp;{n}" for s, n in counts.items())
        q = qc[qc["patient_id"] == p] if not qc.empty else qc
        b = bm[bm["patient_id"] == p] if not bm.empty else bm
        cols_b = [c for c in ("sample_id", "sample_type", "biomarker", "status", "value", "evidence") if c in b.columns]
        cols_q = [c for c in ("sample_id", "sample_type", "status", "reasons", "mean_target_depth",
                              "duplicate_pct", "median_insert_size") if c in q.columns]
        cols_e = [c for c in ("trial_id", "status", "reasons", "next_steps") if c in e.columns]
        imgs = "".join(_img(plots[s]) for s in (q["sample_id"] if "sample_id" in q else []) if s in plots)
        parts.append(
            f"<div class='patient' id='patient-{html.escape(p)}'><h3>{html.escape(p)} {summary}</h3>"
            f"<details open><summary>Trials</summary>{_table_html(e[cols_e])}</details>"
            f"<details><summary>Biomarkers</summary>{_table_html(b[cols_b])}</details>"
            f"<details><summary>Sample QC</summary>{_table_html(q[cols_q])}</details>"
            + (f"<details><summary>ERBB2 region</summary>{imgs}</details>" if imgs else "") + "</div>")
    return "".join(parts)


def build_html(t: dict[str, pd.DataFrame], plots: dict[str, Path] | None = None, title="erbb-screen cohort report") -> str:
    plots = plots or {}
    qc = t["qc"]
    n_samples = len(qc)
    n_fail = int((qc["status"] == "fail").sum()) if not qc.empty else 0
    n_patients = qc["patient_id"].nunique() if not qc.empty else 0
    elig = t["eligibility"]
    n_cand = int((elig["status"] == "candidate").sum()) if not elig.empty else 0
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cn = t["copy_number"]
    cn_focus = cn[cn["gene"].isin(["ERBB2", "ERBB3"])] if not cn.empty else cn
    hs = t["hotspots"]
    hs_hits = hs[hs["status"] != "not_detected"] if not hs.empty else hs
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{CSS}</style></head><body>
<h1>{html.escape(title)}</h1>
<p class="meta">erbb-screen {__version__} · {created} · {n_patients} patients, {n_samples} samples
({n_fail} failed QC) · {n_cand} candidate patient-trial pairs</p>
<p class="small">DNA results only. A <b>candidate</b> still needs every step listed under next steps (HER2 IHC/ISH,
HER3 IHC, RNA confirmation of fusions, clinical review). Values marked UNVERIFIED rest on thresholds the
sources could not confirm.</p>
<h2>Patients x trials</h2>{_matrix(elig)}
<h2>Cohort funnel</h2>{_table_html(t['funnel'])}
<h2>Patients</h2>{_patients(t, plots)}
<h2>ERBB2 / ERBB3 copy number</h2>{_table_html(cn_focus)}
<h2>Hotspot codons: detected or not evaluable</h2>
<p class="small">Codons measured wild type at evaluable depth are in the XLSX workbook and hotspots.tsv.</p>
{_table_html(hs_hits)}
<h2>NRG1 fusions</h2>{_table_html(t['fusions'])}
<h2>Sample QC</h2>{_table_html(qc)}
</body></html>"""


def write_xlsx(t: dict[str, pd.DataFrame], out) -> None:
    """One sheet per table; status cells coloured; header frozen; columns sized to content."""
    from openpyxl.styles import Font, PatternFill

    order = ("eligibility", "funnel", "biomarkers", "copy_number", "hotspots", "fusions", "qc")
    with pd.ExcelWriter(out, engine="openpyxl") as xl:
        for name in order:
            df = t.get(name, pd.DataFrame())
            df.to_excel(xl, sheet_name=name, index=False)
            ws = xl.sheets[name]
            ws.freeze_panes = "A2"
            for cell in ws[1]:
                cell.font = Font(bold=True)
            for col_idx, col in enumerate(df.columns, start=1):
                width = max([len(str(col))] + [len(str(v)) for v in df[col].head(200)]) if len(df) else len(str(col))
                ws.column_dimensions[ws.cell(1, col_idx).column_letter].width = min(max(width + 2, 8), 60)
                if col in ("status", "call"):
                    for row in range(2, len(df) + 2):
                        colour = STATUS_COLOURS.get(str(ws.cell(row, col_idx).value))
                        if colour:
                            ws.cell(row, col_idx).fill = PatternFill("solid", fgColor=colour.lstrip("#"))
                            ws.cell(row, col_idx).font = Font(color="FFFFFF", bold=True)


def write_report(tables_dir, html_out, xlsx_out, plots: dict[str, str] | None = None) -> None:
    t = load_tables(tables_dir)
    plot_paths = {k: Path(v) for k, v in (plots or {}).items() if v and Path(v).is_file() and Path(v).stat().st_size}
    Path(html_out).parent.mkdir(parents=True, exist_ok=True)
    Path(html_out).write_text(build_html(t, plot_paths))
    write_xlsx(t, xlsx_out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="erbb-screen report", description="Cohort HTML + XLSX report from result tables.")
    ap.add_argument("--tables", default="results/tables", help="folder with qc.tsv, biomarkers.tsv, eligibility.tsv ...")
    ap.add_argument("--html", default="report.html")
    ap.add_argument("--xlsx", default="erbb-screen.xlsx")
    args = ap.parse_args(argv)
    if not (Path(args.tables) / "qc.tsv").exists() and not (Path(args.tables) / "eligibility.tsv").exists():
        print(f"{args.tables}: no qc.tsv or eligibility.tsv found; fix: point --tables at results/tables", file=sys.stderr)
        return 2
    write_report(args.tables, args.html, args.xlsx)
    print(f"wrote {args.html} and {args.xlsx}")
    return 0
