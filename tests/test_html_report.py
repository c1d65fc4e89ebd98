"""The HTML report in a real browser: headless Chromium (Debian chromium + chromium-driver) via Selenium.

`.ci/run` installs the browser; elsewhere these tests skip when it is missing (and fail under CI=true).
Screenshots land in tests/.artifacts/ for people to look at. What is static HTML (summary, findings
by edit) is also checked with lxml; the claim lists are rendered by the page's script from embedded
JSON, so they are checked in the browser: the index, search, sort, page 2, a claim's detail, and a
filter click that moves the view.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES, HERE
from lxml import html as lxml_html

from scrubber.api import Options, scrub_bytes, scrub_to_dir
from scrubber.synth import file_837, interchange, transaction_segments
from scrubber.writers.report_html import PAGE_SIZE, Limits

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ARTIFACTS = HERE / ".artifacts"


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
                "--disable-dev-shm-usage", "--window-size=1280,1000"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(120)
    yield driver
    driver.quit()


def _open(browser, page: Path, fragment: str = "") -> None:
    browser.get("about:blank")  # a new document even when only the fragment changes
    browser.get(page.as_uri() + fragment)
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 60).until(lambda d: d.execute_script("return !!(window.scrubReport && scrubReport.ready)"))


def _index(browser, kind: str = "rejected") -> list[str]:
    """Claim ids in the rows of a list as shown."""
    return browser.execute_script(  # in one call: the list may re-render between two WebDriver calls
        f"return Array.from(document.querySelectorAll('table.index.{kind} tbody td.claim'), td => td.textContent)")


def _top(browser, element_id: str) -> float:
    return browser.execute_script(f"return document.getElementById('{element_id}').getBoundingClientRect().top")


def _data(page: Path) -> dict[str, list]:
    tree = lxml_html.parse(str(page))
    return {s.get("id")[5:]: json.loads(s.text) for s in tree.xpath("//script[@type='application/json']")}


def _shot(browser, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / name))
    assert (ARTIFACTS / name).stat().st_size > 10_000


def test_the_rejected_claims_index_search_sort_and_detail(browser, tmp_path: Path) -> None:
    scrub_to_dir(FIXTURES / "chemo-mixed.837", tmp_path)
    page = tmp_path / "chemo-mixed.report.html"
    _open(browser, page)
    body = browser.find_element("tag name", "body").text
    for expected in ("8\nclaims", "4\naccepted", "4\nrejected", "50.0%", "5,270.00", "Rejected claims (4)",
                     "partial list", "Noridian JE Part B (Medicare)", "Accepted claims without findings (2)"):
        assert expected in body, expected
    # The index is on the first screen, in file order.
    rejected = ["CH-MULTI", "CH-WASTE", "CH-BILAT", "CH-COSMETIC"]
    assert _index(browser) == rejected
    assert 0 < _top(browser, "rejected-claims") < 1000
    # Search and sort.
    search = browser.find_element("css selector", "#rejected-claims input[type=search]")
    search.send_keys("bilat")
    browser.execute_script("return 0")
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 5).until(lambda d: _index(d) == ["CH-BILAT"])
    search.clear()
    search.send_keys(" ")
    WebDriverWait(browser, 5).until(lambda d: len(_index(d)) == 4)
    charge = browser.find_element("css selector", "table.index.rejected th[data-col=charge] button")
    charge.click()
    assert _index(browser) == rejected  # 3010 ... 390: largest first
    charge.click()
    assert _index(browser) == rejected[::-1]
    browser.find_element("css selector", "table.index.rejected th[data-col=claim] button").click()
    assert _index(browser) == sorted(rejected)
    # A claim's detail: findings, and its segments with the ones at fault highlighted and annotated.
    browser.find_element("link text", "CH-MULTI").click()
    detail = browser.find_element("id", "claim-detail")
    assert detail.is_displayed() and abs(_top(browser, "claim-detail")) < 5
    faults = detail.find_elements("css selector", "table.segments tr.fault")
    assert [f.find_element("css selector", "td.seg").text for f in faults] == [
        "SV1*HC:64613*300.00*UN*1***1~", "SV1*HC:64645*150.00*UN*1***2~", "SV1*HC:95874*180.00*UN*2***1~"]
    assert "CHEMO-CODE-DELETED" in faults[0].find_element("css selector", "td.notes").text
    # Each finding shows its confidence beside its source.
    sources = [r.find_elements("css selector", "td")[6].text for r in
               detail.find_elements("css selector", "table.findings tbody tr")]
    assert [s.rsplit(" (confidence: ", 1)[1] for s in sources] == ["certain)", "likely)", "certain)"]
    _shot(browser, "chemo-mixed-detail.png")
    browser.find_element("link text", "CH-WASTE").click()
    assert "(confidence: partial-list)" in browser.find_element("id", "claim-detail").text
    # Links of the old report (#claim-ID) still land on the claim.
    _open(browser, page, "#claim-CH-COSMETIC")
    assert "Claim CH-COSMETIC" in browser.find_element("id", "claim-detail").text
    assert abs(_top(browser, "claim-detail")) < 5
    _open(browser, page)
    _shot(browser, "chemo-mixed-report.png")


def test_a_filter_click_lists_the_claims_and_moves_the_view_to_them(browser, tmp_path: Path) -> None:
    scrub_to_dir(FIXTURES / "chemo-mixed.837", tmp_path)
    page = tmp_path / "chemo-mixed.report.html"
    _open(browser, page)
    link = browser.find_element("css selector", "#by-edit a[data-edit=CHEMO-COSMETIC]")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", link)
    before = browser.execute_script("return window.scrollY")
    assert _top(browser, "rejected-claims") < -50  # the list is above the view
    link.click()
    assert _index(browser) == ["CH-COSMETIC"]
    assert abs(_top(browser, "rejected-claims")) < 5 and browser.execute_script("return window.scrollY") != before
    assert "1 of 4 claims with CHEMO-COSMETIC" in browser.find_element("css selector", "#rejected-claims .count").text
    # An edit found only as a warning lists those claims too, and "all edits" brings every claim back.
    browser.execute_script("document.querySelector('#by-edit a[data-edit=PAYER-DX-NOT-COVERED]').click()")
    assert _index(browser) == ["CH-WASTE", "CH-BILAT", "CH-COSMETIC"]
    assert _index(browser, "warned") == ["CH-OK", "CH-64615"]
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("css selector", "#rejected-claims select")).select_by_value("")
    assert len(_index(browser)) == 4
    # A #edit= link from elsewhere filters on arrival.
    _open(browser, page, "#edit=CHEMO-BILATERAL-MEDICARE")
    assert _index(browser) == ["CH-BILAT"] and abs(_top(browser, "rejected-claims")) < 5


def test_counts_are_split_by_severity(tmp_path: Path) -> None:
    # The same edit rejects on a complete policy list (BCX01) and warns on a partial one (Noridian JF).
    claims = [
        {"id": "BCX-NC", "payer_id": "BCX01", "dx": ["G43.909"], "prior_auth": "PA1", "member_id": "M1",
         "lines": [{"code": "64615", "dos": "2026-02-02", "ndc": "00023114501", "ndc_qty": "1"}]},
        {"id": "JF-NC", "payer_id": "02202", "sbr09": "MB", "dx": ["G24.5"], "member_id": "M2",
         "lines": [{"code": "64616", "dos": "2026-02-02"}, {"code": "64612", "dos": "2026-02-02"}]},
    ]
    src = tmp_path / "sev.837"
    src.write_text(file_837(claims, gs_date="2026-03-01"))
    scrub_to_dir(src, tmp_path)
    tree = lxml_html.parse(str(tmp_path / "sev.report.html"))
    row = tree.xpath("//section[@id='by-edit']//tr[td/a[@data-edit='PAYER-DX-NOT-COVERED']]")[0]
    cells = [td.text_content() for td in row.xpath("td")]
    assert cells[2:5] == ["1", "2", "2"]  # 1 rejecting finding, 2 warnings, 2 claims
    assert "reject" in row.xpath("td")[2].get("class") and "warn" in row.xpath("td")[3].get("class")


def test_markup_and_script_ends_in_claim_values_stay_text(browser, tmp_path: Path) -> None:
    evil_id = "<img src=x onerror=alert(1)>"
    evil_script = "</script><script>window.pwned=1</script>"
    evil_name = '"><img src=x onerror="window.pwned=2">'
    claims = [{"id": evil_id, "charge": "1.00", "last": evil_name, "lines": [{"code": "99213", "charge": "100.00"}]},
              {"id": evil_script, "charge": "1.00", "last": "<!--", "member_id": "M2",
               "payer_name": "<b>BOLD</b>", "lines": [{"code": "99213", "charge": "100.00"}]},
              {"id": 'OK"1&amp;', "member_id": "M3", "lines": [{"code": "99213", "charge": "100.00"}]}]
    src = tmp_path / "evil.837"
    src.write_text(interchange([transaction_segments(claims)]))
    scrub_to_dir(src, tmp_path / "out")
    page = tmp_path / "out" / "evil.report.html"
    tree = lxml_html.parse(str(page))
    assert not tree.xpath("//img") and not tree.xpath("//b[text()='BOLD']")
    assert len(tree.xpath("//script")) == 5  # four data blocks and the renderer; none came from a value
    data = _data(page)
    assert [r[0] for r in data["rejected"]] == [evil_id, evil_script] and data["accepted"][0][0] == 'OK"1&amp;'
    assert "</script" not in page.read_text().split("<script>")[-1].split("</script>")[0]
    _open(browser, page)
    assert browser.execute_script("return window.pwned === undefined")
    assert _index(browser) == [evil_id, evil_script]
    rows = browser.find_element("css selector", "table.index.rejected tbody").text
    assert evil_name in rows and "<b>BOLD</b>" in rows
    browser.find_elements("css selector", "table.index.rejected td.claim a")[1].click()
    assert f"Claim {evil_script}" in browser.find_element("id", "claim-detail").text
    _open(browser, page, "#claim=" + evil_id)
    assert f"Claim {evil_id}" in browser.find_element("id", "claim-detail").text
    assert browser.execute_script("return window.pwned === undefined && !document.querySelector('img')")


def test_engineers_hints_stay_out_of_the_page(tmp_path: Path) -> None:
    """Sources cite publications; "see `scrubber explain`" and command lines stay in the JSON report."""
    result = scrub_bytes((FIXTURES / "chemo-mixed.837").read_bytes(), "chemo-mixed.837")
    assert "`scrubber import-mcd" in result.to_json()  # the partial lists' fix, for engineers
    page = result.to_html()
    for hint in ("scrubber explain", "scrubber import-mcd", "--payers", "`", "spec/edits.md"):
        assert hint not in page.split("<script>")[0] + page.split("</script>\n")[-1], hint
    texts = json.loads(page.split('id="data-header">')[1].split("</script>")[0])["texts"]
    assert texts and not [t for t in texts if "`" in t or "scrubber explain" in t or ".md" in t]
    assert any(t.startswith("Check the diagnosis against the full article.") for t in texts)


def _big_file(path: Path, claims: int, *, every: int = 4) -> list[str]:
    """``claims`` claims, one in ``every`` out of balance (rejected); returns the rejected ids in file order."""
    rejected = []
    with open(path, "w", encoding="latin-1", newline="") as fh:
        txns = []
        per_st = min(claims, 5000)
        for st in range(claims // per_st):
            specs = []
            for i in range(per_st):
                cid = f"B{st:02d}-{i:05d}"
                bad = i % every == 0
                if bad:
                    rejected.append(cid)
                specs.append({"id": cid, "member_id": f"M{st}-{i}", "charge": "1.00" if bad else "100.00",
                              "lines": [{"code": "99213", "charge": "100.00"}]})
            txns.append(transaction_segments(specs, control=f"{st + 1:04d}", claims_per_billing=500))
        fh.write(interchange(txns))
    return rejected


def test_page_2_and_every_rejected_claim_is_reachable(browser, tmp_path: Path) -> None:
    src = tmp_path / "paged.837"
    rejected = _big_file(src, 1000)
    assert len(rejected) == 250
    scrub_to_dir(src, tmp_path)
    page = tmp_path / "paged.report.html"
    _open(browser, page)
    assert _index(browser) == rejected[:PAGE_SIZE]
    label = browser.find_element("css selector", "#rejected-claims .pager .page-label").text
    assert label == f"Claims 1-{PAGE_SIZE} of 250 (page 1 of 3)"
    browser.find_element("css selector", "#rejected-claims .pager .next").click()
    assert _index(browser) == rejected[PAGE_SIZE:2 * PAGE_SIZE]
    browser.find_element("css selector", "#rejected-claims .pager .next").click()
    assert _index(browser) == rejected[2 * PAGE_SIZE:]
    assert not browser.find_element("css selector", "#rejected-claims .pager .next").is_enabled()
    browser.find_element("link text", rejected[-1]).click()
    assert f"Claim {rejected[-1]}" in browser.find_element("id", "claim-detail").text
    # The clean claims are listed too, searchable.
    assert browser.execute_script("return scrubReport.lists.accepted.rows.length") == 750
    _shot(browser, "paged-report.png")


def test_a_20000_claim_report_lists_every_rejected_claim(browser, tmp_path: Path) -> None:
    src = tmp_path / "big.837"
    rejected = _big_file(src, 20_000, every=10)
    summary = scrub_to_dir(src, tmp_path / "out", options=Options(html=True))
    assert summary.claims == 20_000 and summary.rejected == len(rejected) == 2_000
    page = tmp_path / "out" / "big.report.html"
    _open(browser, page)
    text = browser.find_element("tag name", "body").text
    assert "20,000\nclaims" in text and "2,000\nrejected" in text
    assert browser.execute_script("return scrubReport.lists.rejected.rows.map(function (r) { return r[0]; })") == rejected
    search = browser.find_element("css selector", "#rejected-claims input[type=search]")
    search.send_keys(rejected[-1])
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 10).until(lambda d: _index(d) == [rejected[-1]])
    browser.find_element("link text", rejected[-1]).click()
    assert "X12-CLAIM-BALANCE" in browser.find_element("id", "claim-detail").text
    _shot(browser, "big-report.png")


def test_budgets_keep_every_rejected_claim_and_say_what_they_leave_out(tmp_path: Path) -> None:
    src = tmp_path / "budget.837"
    claims = [{"id": f"C{i}", "member_id": f"M{i}", "charge": "1.00" if i % 2 else "100.00", "dx": ["G24.3"],
               "payer_id": "02202", "sbr09": "MB",
               "lines": [{"code": "64616" if i % 3 == 0 else "99213", "charge": "100.00", "dos": "2026-02-02"}]}
              for i in range(600)]
    src.write_text(file_837(claims, gs_date="2026-03-01"))
    from scrubber.api import meta, run
    from scrubber.engine import Engine
    from scrubber.writers.report_html import HtmlReportWriter

    engine = Engine()
    summary = scrub_to_dir(src, tmp_path / "full", engine=engine)
    tiny = Limits(rejected_full_bytes=20_000, warned_bytes=5_000, accepted_bytes=2_000, strings=3)
    (tmp_path / "tiny").mkdir()
    with open(src, "rb") as fh, open(tmp_path / "tiny" / "budget.report.html", "w", encoding="utf-8") as out:
        run(fh, "budget.837", [HtmlReportWriter(out, input_name="budget.837", meta=meta(engine), limits=tiny)], engine)
    full, cut = _data(tmp_path / "full" / "budget.report.html"), _data(tmp_path / "tiny" / "budget.report.html")
    assert len(full["rejected"]) == len(cut["rejected"]) == summary.rejected == 300
    assert [r[0] for r in cut["rejected"]] == [r[0] for r in full["rejected"]]
    assert all(r[8] for r in full["rejected"]) and cut["rejected"][0][8] and not cut["rejected"][-1][8]
    assert all(f[8] for r in cut["rejected"] if not r[8] for f in r[7] if f[7] is not None)  # the segment at fault
    assert len(cut["warned"]) < len(full["warned"]) and len(cut["accepted"]) < len(full["accepted"])
    assert len(cut["header"]["texts"]) == 3
    text = lxml_html.parse(str(tmp_path / "tiny" / "budget.report.html")).getroot().text_content()
    assert "show every segment of the claim and the others the segments at fault" in text
    assert "more are counted above but not listed" in text
