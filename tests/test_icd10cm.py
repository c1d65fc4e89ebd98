"""Our fast reading of simple-icd-10-cm's code list agrees with the package's own API."""

from __future__ import annotations

import random
import warnings

from scrubber import icd10cm


def test_status_agrees_with_the_package_on_a_sample_of_codes() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm as cm
    codes, _headers, ordered, _version = icd10cm._code_list()
    sample = [*random.Random(7).sample(ordered, 3000), "G51.3", "G51.31", "G43.E", "G43.E01", "S72.001", "T36.0"]
    for code in sample:
        ours = icd10cm.status(code)
        theirs = ("billable" if cm.is_leaf(code) else "header") if cm.is_valid_item(code) else "unknown"
        assert ours == theirs, code
    for bogus in ("Q9999", "ZZZ999", "G2", "A0"):
        assert icd10cm.status(bogus) == "unknown" and not cm.is_valid_item(bogus)
    assert len(codes) > 90000
