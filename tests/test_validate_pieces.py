"""`--validate pyx12` in pieces (scrubber.ig_pieces) against pyx12 over each whole interchange.

Differential: every file is validated both ways and the outcomes must be equal: the errors of every
transaction (segment number, element, code, text), the file notices, the error count and the 999
(dates, times and control numbers aside). Pieces hold one claim each here, so every loop boundary
the cutter may use is used. An interchange the pieces cannot stand for is validated whole; the
test counts those and requires that most files were really judged from their pieces.
"""

from __future__ import annotations

import io
import random
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from conftest import FIXTURES, SAMPLES
from mutate import corpus, mutate, synthetic_claims
from test_samples import FILES

from scrubber.errors import InputError
from scrubber.pool import process_pool
from scrubber.synth import file_837, interchange, transaction_segments
from scrubber.validate import IgReport, validate_stream


@pytest.fixture(scope="module")
def pool() -> ProcessPoolExecutor:
    workers = process_pool(2)
    yield workers
    workers.shutdown()


def _ack(report: IgReport) -> list[str]:
    """The 999s without what differs from run to run (dates, times, control numbers), and with the
    codes of one IK3 in a fixed order (pyx12 writes them from a set)."""
    out: list[str] = []
    for seg in report.ack_999().replace("\n", "").split("~"):
        f = seg.split("*")
        blank = {"ISA": (9, 10, 13), "GS": (4, 5, 6), "GE": (2,), "IEA": (2,)}.get(f[0], ())
        out.append("*".join("X" if i in blank else v for i, v in enumerate(f)))
    return sorted(out)  # IK3 codes of one segment come in set order; the multiset is what counts


def _outcome(report: IgReport) -> tuple:
    errors = {t: [(e.number, e.segment_id, e.element, e.code, e.text) for e in errs]
              for t, errs in report.by_transaction.items()}
    return errors, report.file_level, report.errors, _ack(report)


def _compare(data: bytes, pool: ProcessPoolExecutor, per_piece: int = 1) -> tuple[bool, IgReport, IgReport]:
    whole = validate_stream(io.BytesIO(data), jobs=1)
    pieces = validate_stream(io.BytesIO(data), jobs=2, claims_per_piece=per_piece, pool=pool)
    return _outcome(whole) == _outcome(pieces), whole, pieces


def _multi(rng: random.Random) -> str:
    """Several STs, several billing providers (2000A), subscribers with dependants: cut points of
    every kind."""
    txns = []
    for st in range(rng.choice([1, 1, 2, 3])):
        claims = synthetic_claims(rng, rng.randint(2, 7))
        txns.append(transaction_segments(claims, control=f"{st + 1:04d}", claims_per_billing=rng.choice([0, 1, 2, 3])))
    return interchange(txns)


def _corpus(seed: int, count: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    files = [(name, text) for name, text in corpus(seed, count // 2, FILES)]
    for n in range(count - len(files)):
        text = _multi(rng)
        files.append((f"multi-{n}", text if n % 4 == 0 else mutate(text, rng)))
    return files


def test_pieces_give_pyx12s_outcome_on_mutated_files(pool: ProcessPoolExecutor) -> None:
    disagreements, whole_reasons, judged, broken, cut = [], Counter(), 0, 0, 0
    files = _corpus(14, 48)
    for name, text in files:
        same, whole, pieces = _compare(text.encode("latin-1"), pool)
        if not same:
            disagreements.append(name)
        whole_reasons.update(pieces.whole)
        cut += pieces.pieces > 1
        judged += not pieces.whole and pieces.pieces > 1
        broken += whole.errors > 0
    assert not disagreements, f"{len(disagreements)} of {len(files)} disagree: {disagreements}"
    assert broken >= len(files) // 2  # the mutations do give pyx12 something to report
    # Most files were cut, and most of those judged from their pieces, not validated whole again.
    assert cut >= len(files) // 2 and judged >= cut * 3 // 4, (cut, judged, whole_reasons)


SAMPLE_FILES = sorted(p for p in SAMPLES.glob("*/*") if p.is_file() and p.name != "LICENSE") if SAMPLES else []


@pytest.mark.skipif(not SAMPLE_FILES, reason="../shared/samples not present")
def test_pieces_give_pyx12s_outcome_on_the_samples(pool: ProcessPoolExecutor) -> None:
    disagreements, unusable, cut = [], [], 0
    for path in [*SAMPLE_FILES, FIXTURES / "multi-interchange.837"]:
        data = path.read_bytes()
        try:
            # One claim a piece, or 25 in the samples of hundreds of claims.
            same, _whole, pieces = _compare(data, pool, 1 if data.count(b"CLM") < 50 else 25)
        except InputError:
            with pytest.raises(InputError):
                validate_stream(io.BytesIO(data), jobs=2, pool=pool)
            unusable.append(path.name)
            continue
        if not same:
            disagreements.append(path.name)
        cut += pieces.pieces > 1 and not pieces.whole
    assert not disagreements
    assert cut >= 8 and len(unusable) < len(SAMPLE_FILES) // 4  # most samples were cut and judged in pieces


def test_counts_and_hl_numbers_are_checked_over_the_whole_transaction(pool: ProcessPoolExecutor) -> None:
    # An HL number that skips one in a later piece, a parent that does not exist in another, an
    # SE01 off by one, and an element error in the last claim: the pieces (each of which counts
    # right by itself) must report them as pyx12 does on the whole transaction, without redoing it.
    claims = [{"id": f"C{i}", "member_id": f"M{i}", "lines": [{"code": "99213", "charge": "80.00"}]}
              for i in range(6)]
    text = file_837(claims, claims_per_billing=2)
    text = text.replace("HL*6*4*22*0~", "HL*16*4*22*0~").replace("HL*8*7*22*0~", "HL*8*9*22*0~")
    count = int(text.split("\nSE*")[1].split("*")[0])
    text = text.replace(f"\nSE*{count}*", f"\nSE*{count + 1}*").replace("CLM*C5*80.00", "CLM*C5*80.00X")
    same, whole, pieces = _compare(text.encode("latin-1"), pool)
    codes = Counter(e.code for errs in whole.by_transaction.values() for e in errs)
    # HL2 twice: the bad parent empties pyx12's stack of open levels, so the next HL's parent is gone too.
    assert codes["HL1"] == 1 and codes["HL2"] == 2 and codes["4"] == 1 and codes["6"] == 1, codes
    assert same and pieces.pieces >= 3 and not pieces.whole
    assert "IK5*R*4*5" in whole.ack_999().replace("\n", "")


def test_a_clean_large_transaction_is_cut_and_stays_clean(pool: ProcessPoolExecutor) -> None:
    claims = [{"id": f"C{i}", "member_id": f"M{i // 2}", "lines": [{"code": "99213", "charge": "80.00"}]}
              for i in range(40)]
    data = file_837(claims, claims_per_billing=7).encode("latin-1")
    seen: list[tuple[int, int]] = []
    report = validate_stream(io.BytesIO(data), jobs=2, claims_per_piece=5, pool=pool,
                             progress=lambda offset, n: seen.append((offset, n)))
    assert report.errors == 0 and report.ack_999() == "" and not report.whole
    assert all(errs == [] for errs in report.by_transaction.values()) and list(report.by_transaction) == [1]
    assert report.pieces >= 6 and seen[-1][1] == 40 and seen == sorted(seen)


def test_a_stream_that_cannot_be_read_twice_is_validated_whole(tmp_path: Path) -> None:
    data = file_837([{"id": "A", "lines": [{"code": "99213", "charge": "80.00", "basis": "XX"}]}]).encode()

    class OneWay(io.BytesIO):
        def seekable(self) -> bool:
            return False

    report = validate_stream(OneWay(data), jobs=2)
    assert report.pieces == 0 and report.errors == 1 and "IK3*SV1*" in report.ack_999()
