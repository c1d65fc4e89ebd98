"""Checks every scrub must satisfy, whatever the input: nothing lost, nothing duplicated."""

from __future__ import annotations

import io
import json
from decimal import Decimal

from oracle import assert_valid_277, assert_valid_837

from scrubber.api import Result
from scrubber.model import ClaimUnit
from scrubber.reports import claims as report_claims
from scrubber.writers.ack277 import REF_MAX, Values, delimiters_277
from scrubber.x12.reader import Reader
from scrubber.x12.segments import Tokenizer


def _unindented(raw: str) -> str:
    body = raw.lstrip(" \t\r\n")
    return raw[: len(raw) - len(body)].replace(" ", "").replace("\t", "") + body


def claims_of(data: bytes) -> list[ClaimUnit]:
    return [e for e in Reader(io.BytesIO(data)).events() if isinstance(e, ClaimUnit)]


def _bytes(x12: str | bytes) -> bytes:
    return x12 if isinstance(x12, bytes) else x12.encode("latin-1")


def trn02(claim: ClaimUnit) -> str:
    """What 2200D TRN02 holds for a claim: CLM01 exactly when it fits a 277CA, else fitted (no
    delimiter or control character, at most 50 characters), "0" when nothing is left."""
    return Values(delimiters_277(claim.delimiters))(claim.claim_id, REF_MAX) or "0"


def ack_claims(ack: str | bytes) -> list[tuple[str, str, Decimal]]:
    """(TRN02, STC03, STC04) of every 2200D in a 277CA."""
    out = []
    trn = None
    for seg in Tokenizer(io.BytesIO(_bytes(ack))):
        if seg.id == "HL":
            trn = None
            level = seg.el(3)
        elif seg.id == "TRN" and seg.el(1) == "2" and level == "PT":
            trn = seg.el(2)
        elif seg.id == "STC" and trn is not None:
            out.append((trn, seg.el(3), Decimal(seg.el(4) or "0")))
            trn = None
    return out


def check_balances(ack: str | bytes) -> None:
    """2200B and 2200C QTY/AMT equal what the claims beneath them say."""
    levels: list[dict] = []
    cur: dict | None = None
    for seg in Tokenizer(io.BytesIO(_bytes(ack))):
        if seg.id == "ST":
            levels = []
        if seg.id == "HL":
            cur = {"level": seg.el(3), "qty": {}, "amt": {}, "claims": []}
            levels.append(cur)
        elif cur is not None and seg.id == "QTY":
            cur["qty"][seg.el(1)] = int(seg.el(2))
        elif cur is not None and seg.id == "AMT":
            cur["amt"][seg.el(1)] = Decimal(seg.el(2))
        elif cur is not None and seg.id == "TRN" and cur["level"] == "PT":
            cur["trn"] = True
        elif cur is not None and seg.id == "STC" and cur.pop("trn", False):
            cur["claims"].append((seg.el(3), Decimal(seg.el(4) or "0")))  # 2200D, not a 2220D line
        elif seg.id == "SE":
            _check_st(levels)


def _check_st(levels: list[dict]) -> None:
    receiver = next(lv for lv in levels if lv["level"] == "21")
    all_claims = [c for lv in levels if lv["level"] == "PT" for c in lv["claims"]]
    _check_level(receiver, all_claims, ok_qty="90", rej_qty="AA")
    for i, lv in enumerate(levels):
        if lv["level"] != "19":
            continue
        beneath = []
        for nxt in levels[i + 1:]:
            if nxt["level"] != "PT":
                break
            beneath += nxt["claims"]
        _check_level(lv, beneath, ok_qty="QA", rej_qty="QC")


def _check_level(lv: dict, claims: list, *, ok_qty: str, rej_qty: str) -> None:
    ok = [a for s, a in claims if s == "WQ"]
    rej = [a for s, a in claims if s == "U"]
    assert lv["qty"].get(ok_qty, 0) == len(ok)
    assert lv["qty"].get(rej_qty, 0) == len(rej)
    assert lv["amt"].get("YU", Decimal(0)) == sum(ok, Decimal(0))
    assert lv["amt"].get("YY", Decimal(0)) == sum(rej, Decimal(0))


def check_result(data: bytes, result: Result, *, input_is_valid: bool = True) -> dict:
    """Every input claim once in JSON and 277CA; the accepted 837 holds exactly the accepted ones."""
    source = claims_of(data)
    report = json.loads(result.to_json())
    assert report["claims_total"] == report["accepted"] + report["rejected"] == len(report_claims(report)) == len(source)
    assert [c["claim_id"] for c in report_claims(report)] == [c.claim_id for c in source]
    statuses = [c["status"] for c in report_claims(report)]
    for c in report_claims(report):
        assert (c["status"] == "rejected") == any(f["severity"] == "reject" for f in c["findings"])
        for f in c["findings"]:  # every finding says how sure it is, and only a certain one rejects
            assert f["confidence"] in ("certain", "likely", "partial-list"), f
            assert f["severity"] == "warn" or f["confidence"] == "certain", f

    acks = ack_claims(result.ack_277())
    assert [a[0] or "0" for a in acks] == [trn02(c) for c in source]
    assert [("rejected" if a[1] == "U" else "accepted") for a in acks] == statuses
    assert all(a[1] in ("WQ", "U") for a in acks)
    check_balances(result.ack_277())
    assert_valid_277(result.ack_277())

    accepted = [c for c, s in zip(source, statuses, strict=True) if s == "accepted"]
    if accepted:
        out = result.accepted_837()
        kept = claims_of(out)
        assert [c.claim_id for c in kept] == [c.claim_id for c in accepted]
        for a, b in zip(kept, accepted, strict=True):
            assert [s.raw.lstrip() for s in a.segments] == [s.raw.lstrip() for s in b.segments]
            # Byte for byte, apart from indentation (blank space between segments is not kept).
            assert a.segments[0].raw == _unindented(b.segments[0].raw)
        baseline = None if input_is_valid else data.decode("latin-1")
        assert_valid_837(result.accepted_837(), baseline=baseline)
    else:
        assert result.accepted_837() == b""
    return report
