"""The report pages of the session's cohort run, opened in headless Chromium (Debian `chromium` +
`chromium-driver`, driven by selenium; scripts/install.sh installs both). No console errors; a known patient's
values are visible; the matrix sorts, filters and links into the patient's criteria. Screenshots are saved under
the run's results/report/screenshots/ for review."""
import base64
import os
import re
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1300,1000"]


def _missing() -> str:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "python package selenium (requirements.txt)"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} (Debian chromium + chromium-driver, scripts/install.sh)"
    return ""


@pytest.fixture(scope="module")
def browser():
    missing = _missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"browser test needs {missing}")
        pytest.skip(f"browser test needs {missing}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="erbbscreen-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(120)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def report_dir(workflow_results) -> Path:
    d = workflow_results / "results" / "report"
    assert (d / "report.html").is_file(), "the workflow run wrote no results/report/report.html"
    return d


def screenshot(driver, out: Path) -> None:
    """Full-page PNG through the DevTools protocol (the page beyond the window included)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    out.write_bytes(base64.b64decode(shot["data"]))


def open_page(driver, path: Path) -> list:
    """Load a page from the file system; returns its console messages of level SEVERE (errors)."""
    driver.get_log("browser")  # drop earlier messages
    driver.get(path.resolve().as_uri())
    assert driver.execute_script("return document.readyState") == "complete"
    return [m for m in driver.get_log("browser") if m["level"] == "SEVERE"]


def expected_status(patient, trial) -> str:
    exp = pd.read_csv(ROOT / "tests" / "cohort" / "expected_eligibility.tsv", sep="\t", comment="#")
    row = exp[(exp["patient_id"] == patient) & (exp["trial_id"] == trial)]
    assert len(row) == 1, f"{patient} x {trial} not in expected_eligibility.tsv"
    return row["expected_status"].iloc[0]


def test_cohort_page_in_browser(browser, report_dir):
    from selenium.webdriver.common.by import By

    errors = open_page(browser, report_dir / "report.html")
    assert errors == [], f"console errors on the cohort page: {errors}"
    screenshot(browser, report_dir / "screenshots" / "cohort.png")
    rows = browser.find_elements(By.CSS_SELECTOR, "#matrix tbody tr")
    patients = sorted(p.stem for p in (report_dir / "patients").glob("*.html"))
    assert sorted(r.find_element(By.TAG_NAME, "th").text for r in rows) == patients
    # sort by "candidate for" (descending first): the first row has the most candidate verdicts
    browser.find_element(By.CSS_SELECTOR, "#matrix thead th:nth-child(2)").click()
    counts = [int(r.find_elements(By.TAG_NAME, "td")[0].text) for r in
              browser.find_elements(By.CSS_SELECTOR, "#matrix tbody tr")]
    assert counts == sorted(counts, reverse=True) and counts[0] > 0
    # filter by patient text: one row left
    box = browser.find_element(By.ID, "filter-patient")
    box.send_keys("P01")
    visible = [r for r in browser.find_elements(By.CSS_SELECTOR, "#matrix tbody tr") if r.is_displayed()]
    assert [r.find_element(By.TAG_NAME, "th").text for r in visible] == ["P01"]
    # a cell links to the patient's criteria of that trial, opened
    browser.find_element(By.CSS_SELECTOR, '#matrix a[href="patients/P01.html#trial-HERACLES_A"]').click()
    assert browser.current_url.endswith("patients/P01.html#trial-HERACLES_A")
    section = browser.find_element(By.ID, "trial-HERACLES_A")
    assert section.get_attribute("open") is not None
    assert section.find_element(By.CSS_SELECTOR, 'tr[data-criterion="erbb2_dna_screen"]').is_displayed()
    assert [m for m in browser.get_log("browser") if m["level"] == "SEVERE"] == []


def test_patient_page_shows_the_known_patient(browser, report_dir):
    """P01 (synthetic cohort: ERBB2 CN 12 in a tumour of purity 0.6): CN, a trial status, a next step."""
    from selenium.webdriver.common.by import By

    errors = open_page(browser, report_dir / "patients" / "P01.html")
    assert errors == [], f"console errors on P01's page: {errors}"
    screenshot(browser, report_dir / "screenshots" / "P01.png")
    summary = browser.find_element(By.ID, "summary").find_element(By.XPATH, "following-sibling::div[1]")
    m = re.search(r"ERBB2 amplified, CN (\d+(?:\.\d+)?) \[(\d+\.\d+)-(\d+\.\d+)\], tumour P01-T", summary.text)
    assert m, summary.text
    assert 9 <= float(m.group(1)) <= 15 and float(m.group(2)) <= float(m.group(1)) <= float(m.group(3))
    row = browser.find_element(By.ID, "row-HERACLES_A")
    assert row.is_displayed()
    assert row.find_element(By.CSS_SELECTOR, ".badge").text == expected_status("P01", "HERACLES_A") == "candidate"
    steps = [li.text for li in row.find_elements(By.CSS_SELECTOR, "ul.steps li")]
    assert any(s.startswith("confirm HER2 by IHC/ISH") for s in steps), steps
    # the criteria stay closed until asked for; the button opens them all
    crit = browser.find_element(By.CSS_SELECTOR, '#trial-HERACLES_A tr[data-criterion="erbb2_dna_screen"]')
    assert not crit.is_displayed()
    browser.find_element(By.ID, "expand-all").click()
    assert crit.is_displayed() and "ASSUMED" in crit.text and "met" in crit.text
    figures = browser.find_elements(By.CSS_SELECTOR, "img.plot")
    assert figures and all(browser.execute_script("return arguments[0].naturalWidth", f) > 0 for f in figures)
    screenshot(browser, report_dir / "screenshots" / "P01-criteria-open.png")


def test_not_evaluable_codon_is_visible(browser, report_dir):
    """P09 (plasma without tumour DNA): hotspot codons are not_evaluable, shown with their reason."""
    from selenium.webdriver.common.by import By

    errors = open_page(browser, report_dir / "patients" / "P09.html")
    assert errors == [], f"console errors on P09's page: {errors}"
    screenshot(browser, report_dir / "screenshots" / "P09.png")
    rows = browser.find_elements(By.CSS_SELECTOR, 'table.hotspots tr[data-status="not_evaluable"]')
    kras12 = [r for r in rows if r.find_elements(By.TAG_NAME, "td")[0].text == "KRAS"
              and r.find_elements(By.TAG_NAME, "td")[1].text == "12"]
    assert kras12 and all(r.is_displayed() for r in kras12)
    assert any("not_evaluable" in r.text and ("no ctDNA" in r.text or "failed QC" in r.text) for r in kras12)
