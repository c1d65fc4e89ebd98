"""Shortcuts on the per-claim path give what the general path gives, on the values they take and the rest.

Each writer and check formats the common case (a plain amount, a plain positive unit count, plain
ASCII text) without the general machinery; these tests feed both paths the same values, plain and
odd, and require the same result.
"""

from __future__ import annotations

import io
import json
import random
from decimal import Decimal, InvalidOperation

import pytest

from scrubber import text as text_mod
from scrubber.writers import ack277, report_json
from scrubber.x12.loop2300 import is_amount, positive_whole

ODD = ["", "0", "00", "0.0", "1", "01", "1.", ".5", "1.5", "1.05", "1.005", "-1", "-0.00", "135.00", "1e3", "NaN",
       "Infinity", " 1", "1 ", "1_000", "１", "²", "999999999999999.99", "9999999999999999.99", "12345678901234567890",
       "1..2", "1-", "--1", "abc"]


def _amounts(n: int = 3000) -> list[str]:
    rng = random.Random(5)
    out = list(ODD)
    for _ in range(n):
        whole = str(rng.choice([0, rng.randint(1, 9), rng.randint(10, 99999), rng.randint(10**14, 10**16)]))
        frac = rng.choice(["", ".", f".{rng.randint(0, 9)}", f".{rng.randint(0, 99):02d}", f".{rng.randint(0, 999):03d}"])
        sign = "-" if rng.random() < 0.05 else ""
        out.append(sign + ("0" if rng.random() < 0.03 else "") + whole + frac)
    return out


def test_277_charge_from_text_equals_decimal_formatting() -> None:
    for value in _amounts():
        number = ack277._money(value)
        try:
            expected = ack277._amount(number)
        except Exception as exc:  # an amount too large raises on both paths
            with pytest.raises(type(exc)):
                ack277._charge(value)
            continue
        assert ack277._charge(value) == (number, expected), value


def test_report_charge_from_text_equals_decimal_formatting() -> None:
    for value in _amounts():
        expected = f"{Decimal(value):.2f}" if is_amount(value) else value
        assert report_json.charge_text(value) == expected, value
        assert report_json._amount(value) == (Decimal(value) if is_amount(value) else Decimal(0)), value


def test_positive_whole_is_a_positive_whole_amount() -> None:
    wholes = [v for v in _amounts() if positive_whole(v)]
    assert len(wholes) > 100
    for value in wholes:
        assert is_amount(value) and Decimal(value) > 0 and Decimal(value) == Decimal(value).to_integral(), value


def test_claim_balance_shortcut_agrees_with_the_decimal_rule() -> None:
    from scrubber.rules import kinds_core

    def slow(total: str, lines: list[str]) -> bool:  # the rule as written before the shortcut
        t, ls = kinds_core.amount_value(total), [kinds_core.amount_value(x) for x in lines]
        if t is None or any(x is None for x in ls):
            return False
        return t.quantize(Decimal("0.01")) != sum(ls, Decimal(0)).quantize(Decimal("0.01"))  # type: ignore[arg-type]

    def fast_says_balanced(total: str, lines: list[str]) -> bool:
        try:
            return Decimal(total) == sum([Decimal(x) for x in lines], Decimal(0))
        except (ArithmeticError, ValueError):
            return False

    rng = random.Random(9)
    values = _amounts(600)
    for _ in range(3000):
        lines = rng.sample(values, rng.randint(1, 3))
        total = rng.choice([*values, str(sum((Decimal(x) for x in lines if is_amount(x)), Decimal(0)))])
        try:
            balanced = fast_says_balanced(total, lines)
        except InvalidOperation:
            balanced = False
        if balanced:
            assert not slow(total, lines), (total, lines)


TEXTS = ["Line 1 (64612) has no units.", "see `scrubber explain X`", "Check (see `scrubber explain X`) now.",
         "Run it with --payers FILE.", "as listed (shared/spec/edits.md) there", "a/b", "plain", "",
         "MUÑOZ", "tab\there", "new\nline", "bell\x07", "nbsp\xa0here", "“quoted”", 'say "hi"', "back\\slash"]


@pytest.mark.parametrize("value", TEXTS)
def test_text_filters_give_what_their_patterns_give(value: str) -> None:
    assert text_mod.for_billers(value) == text_mod._for_billers(value)
    assert text_mod.for_markup(value) == text_mod.human(value).translate(text_mod._XML_UNSAFE)


@pytest.mark.parametrize("value", [*TEXTS, "=1+1", "+x, y", "-cmd|' /C calc'!A0", "@x", "a,b", "x\ry", "ends\"",
                                   "=see `scrubber explain X`, then", "Fix it; run `scrubber x --y` first."])
def test_a_worklist_text_cell_is_what_the_filters_make_of_it(value: str) -> None:
    from scrubber.writers import worklist

    assert worklist.text_cell(value) == worklist.cell(worklist.defused(text_mod.for_billers(text_mod.for_markup(value))))


@pytest.mark.parametrize("value", [*TEXTS, "PCN0001", "1234567893", "000000101"])
def test_a_clean_row_string_is_what_the_encoder_writes(value: str) -> None:
    assert json.loads(report_json._text(value)) == value
    assert report_json._text(value) == json.dumps(value)


def test_edit_messages_collapse_blank_space_as_before() -> None:
    from scrubber.rules.catalog import load_catalog

    edit = load_catalog().edit("PRO-DUPLICATE-CLAIM")
    for claim_id in ("A B", "A  B", " A", "A\tB", "A\xa0B", "A\x85B", "ok"):
        for key in edit.messages:
            try:
                got = edit.message(key, claim_id=claim_id, first=1, ordinal=2)
            except KeyError:
                continue
            assert got == " ".join(edit.messages[key].format(claim_id=claim_id, first=1, ordinal=2).split())


def test_worklist_rows_are_what_the_csv_module_writes() -> None:
    import csv

    from scrubber.writers.worklist import row

    rng = random.Random(3)
    alphabet = ['a', 'Z', ' ', ',', '"', '\n', '\r', '\t', "'", '=', '-', 'Ñ', '“', '\x00', ';', '\\']
    for _ in range(3000):
        cells = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6))) for _ in range(rng.randint(1, 11))]
        out = io.StringIO(newline="")
        csv.writer(out, lineterminator="\r\n").writerow(cells)
        assert row(cells) == out.getvalue(), cells


def test_claims_in_full_are_what_json_writes() -> None:
    from test_engine_memo import _bench_claims

    from scrubber.engine import Engine
    from scrubber.model import ClaimUnit, ScrubbedClaim
    from scrubber.synth import file_837
    from scrubber.x12.reader import Reader

    engine = Engine()
    odd = file_837([{"id": 'Q"UOTE\\D', "member_id": "M1", "dx": ["G24.3"], "lines": [{"code": "99213", "mods": ["ZX"]}]},
                    {"id": "MU\u00d1OZ", "member_id": "M2", "dx": ["G24.3"], "lines": [{"code": "64615", "units": "0"}]}])
    claims = [ev for ev in Reader(io.BytesIO(odd.encode("utf-8"))).events() if isinstance(ev, ClaimUnit)]
    claims += _bench_claims(400, heavy=True)
    flagged = 0
    for claim in claims:
        sc = ScrubbedClaim(claim, engine.check(claim))
        if sc.findings:
            flagged += 1
            expected = json.dumps({"ordinal": claim.ordinal, **report_json.claim_dict(sc)}, separators=(",", ":"))
            assert report_json.flagged_json(sc) == expected
    assert flagged > 300


def test_npi_check_digit_is_the_luhn_digit_over_the_prefixed_number() -> None:
    from scrubber.rules.kinds_pro import npi_check_digit

    def luhn(npi: str) -> int:  # the rule as written: double every other digit of 80840 + the nine, from the right
        total = 0
        for i, ch in enumerate(reversed("80840" + npi[:9])):
            d = int(ch) * (2 if i % 2 == 0 else 1)
            total += d // 10 + d % 10
        return (10 - total % 10) % 10

    rng = random.Random(3)
    npis = ["1234567893", "0000000000", "9999999999", *("".join(rng.choice("0123456789") for _ in range(10))
                                                          for _ in range(3000))]
    assert [npi_check_digit(n) for n in npis] == [luhn(n) for n in npis]
    assert npi_check_digit("1234567893") == 3  # CMS's example NPI
    assert npi_check_digit("123456789") is None and npi_check_digit("12345678AB") is None
