"""The HTML report in a real browser: headless Chromium (Debian chromium + chromium-driver) via Selenium.

`.ci/run` installs the browser; elsewhere these tests skip when it is missing (and fail under CI=true).
A screenshot of each page lands in tests/.artifacts/ for people to look at.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from conftest import FIXTURES, HERE
from lxml import html as lxml_html

from scrubber.api import Options, scrub_to_dir
from scrubber.synth import interchange, transaction_segments
from scrubber.writers.report_html import Limits

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ARTIFACTS = HERE / ".artifacts"
# Worst case with the default limits: 500 + 200 detailed sections, 10,000 + 10,000 compact rows
# and 5,000 accepted rows. Stated in the README.
PAGE_LIMIT_BYTES = 8 * 1024 * 1024


def _browser_available() -> bool:
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


@pytest.fixture(scope="module")
def browser():
    if not _browser_available():
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver are required in CI (.ci/run installs them)")
        pytest.skip("chromium/chromedriver not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,2000"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(120)
    yield driver
    driver.quit()


def _visible_sections(driver) -> list[str]:
    return [s.get_attribute("id") for s in driver.find_elements("css selector", "section.claim") if s.is_displayed()]


def test_report_of_a_mixed_file_in_chromium(browser, tmp_path: Path) -> None:
    scrub_to_dir(FIXTURES / "chemo-mixed.837", tmp_path)
    page = tmp_path / "chemo-mixed.report.html"
    browser.get(page.as_uri())
    body = browser.find_element("tag name", "body").text
    for expected in ("8\nclaims", "4\naccepted", "4\nrejected", "50.0%", "5,270.00", "Rejected claims (4)",
                     "partial list", "Noridian JE Part B (Medicare)", "Accepted claims without findings (2)",
                     "(confidence: certain)", "(confidence: likely)", "(confidence: partial-list)"):
        assert expected in body, expected
    rejected = ["claim-CH-MULTI", "claim-CH-WASTE", "claim-CH-BILAT", "claim-CH-COSMETIC"]
    assert [s for s in _visible_sections(browser) if s in rejected] == rejected
    # The faulty segments are highlighted and annotated beside the segment.
    multi = browser.find_element("id", "claim-CH-MULTI")
    faults = multi.find_elements("css selector", "table.segments tr.fault")
    assert [f.find_element("css selector", "td.seg").text for f in faults] == [
        "SV1*HC:64613*300.00*UN*1***1~", "SV1*HC:64645*150.00*UN*1***2~", "SV1*HC:95874*180.00*UN*2***1~"]
    assert "CHEMO-CODE-DELETED" in faults[0].find_element("css selector", "td.notes").text
    # Stable anchors: a link to a claim lands on its section.
    browser.get(page.as_uri() + "#claim-CH-COSMETIC")
    top = browser.execute_script("return document.getElementById('claim-CH-COSMETIC').getBoundingClientRect().top")
    assert abs(top) < 5
    # The filter by edit works without a server, from the menu and from a #edit= link.
    browser.get(page.as_uri())
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("id", "edit-filter")).select_by_value("CHEMO-COSMETIC")
    assert _visible_sections(browser) == ["claim-CH-COSMETIC"]
    browser.get(page.as_uri() + "#edit=CHEMO-BILATERAL-MEDICARE")
    browser.refresh()
    assert _visible_sections(browser) == ["claim-CH-BILAT"]
    Select(browser.find_element("id", "edit-filter")).select_by_value("")
    assert len(_visible_sections(browser)) == 6  # 5 rejected + 1 with warnings only
    ARTIFACTS.mkdir(exist_ok=True)
    browser.get(page.as_uri())
    browser.save_screenshot(str(ARTIFACTS / "chemo-mixed-report.png"))
    assert (ARTIFACTS / "chemo-mixed-report.png").stat().st_size > 10_000


def test_markup_in_claim_values_shows_as_text(browser, tmp_path: Path) -> None:
    evil_id = "<script>window.pwned=1</script>"
    evil_name = '"><img src=x onerror="window.pwned=2">'
    claims = [{"id": evil_id, "charge": "1.00", "last": evil_name, "lines": [{"code": "99213", "charge": "100.00"}]},
              {"id": 'OK"1', "last": "<b>BOLD</b>", "member_id": "M2", "lines": [{"code": "99213", "charge": "5.00"}]}]
    src = tmp_path / "evil.837"
    src.write_text(interchange([transaction_segments(claims)]))
    scrub_to_dir(src, tmp_path / "out")
    page = tmp_path / "out" / "evil.report.html"
    tree = lxml_html.parse(str(page))
    assert not tree.xpath("//img") and not tree.xpath("//b[text()='BOLD']")
    assert [s.text for s in tree.xpath("//script")] and all("pwned" not in (s.text or "") for s in tree.xpath("//script"))
    browser.get(page.as_uri())
    assert browser.execute_script("return window.pwned === undefined")
    body = browser.find_element("tag name", "body").text
    assert f"Claim {evil_id}" in body and evil_name in body


def test_a_100000_claim_report_stays_small_and_opens(browser, tmp_path: Path) -> None:
    src = tmp_path / "big.837"
    with open(src, "w", encoding="latin-1", newline="") as fh:
        txns = []
        for st in range(20):
            claims = [{"id": f"B{st}-{i}", "member_id": f"M{i}", "charge": "1.00" if i % 10 == 0 else "100.00",
                       "lines": [{"code": "64616" if i % 7 == 0 else "99213", "charge": "100.00"}]}
                      for i in range(5000)]
            txns.append(transaction_segments(claims, control=f"{st + 1:04d}", claims_per_billing=1000))
        fh.write(interchange(txns))
    summary = scrub_to_dir(src, tmp_path / "out", options=Options(html=True))
    assert summary.claims == 100_000 and summary.rejected == 10_000
    page = tmp_path / "out" / "big.report.html"
    size = page.stat().st_size
    assert size < PAGE_LIMIT_BYTES, size
    limits = Limits()
    start = time.monotonic()
    browser.get(page.as_uri())
    assert time.monotonic() - start < 120
    assert browser.title.startswith("Scrub report")
    text = browser.find_element("tag name", "body").text
    assert "100000\nclaims" in text and "10000\nrejected" in text
    assert "listed here (the JSON report has every finding)" in text
    assert "counted above but not listed" in text
    sections = browser.execute_script("return document.querySelectorAll('section.claim').length")
    assert sections == limits.rejected_details + limits.warned_details
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "big-report.png"))
