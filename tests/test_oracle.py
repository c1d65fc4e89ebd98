"""The oracle must be able to fail: known-good documents pass, broken ones do not."""

from __future__ import annotations

import pytest
from conftest import SHARED
from oracle import validate

EXAMPLE = SHARED / "domain" / "277ca-example.x12"


@pytest.mark.skipif(not EXAMPLE.exists(), reason="shared/domain not present")
def test_known_good_277_passes_and_broken_ones_fail() -> None:
    text = EXAMPLE.read_text()
    assert validate(text)[0], "the research notes' example validates with the stock map"
    # It sends 2220D STC02, which the TR3 (and so the patched map) marks Not Used.
    ok, errors, _ = validate(text, patched=True)
    assert not ok and len(errors) == 1
    text = text.replace("STC*A7:454*20250115*U*******A7:255", "STC*A7:454**U*******A7:255")
    assert validate(text, patched=True)[0]
    broken_count = text.replace("SE*30*0001", "SE*31*0001")
    assert not validate(broken_count, patched=True)[0]
    bad_code = text.replace("STC*A7:732*", "STC*Q9:732*")
    assert not validate(bad_code, patched=True)[0]


@pytest.mark.skipif(not EXAMPLE.exists(), reason="shared/domain not present")
def test_patched_map_accepts_tr3_line_stc_and_stock_map_does_not() -> None:
    text = EXAMPLE.read_text().replace("STC*A7:454*20250115*U*******A7:255", "STC*A7:454**U*******A7:255")
    ok, errors, _ = validate(text)
    assert not ok and any("STC02" in e for e in errors)
    assert validate(text, patched=True)[0]
