"""The parts of a split run's bookkeeping that a byte-for-byte comparison of whole runs (test_split)
would not pin down on its own: the piece keys and the parent's filter of them, a validator that
starts a piece with what it learnt on the one before, and the stitched outputs moved into place."""

from __future__ import annotations

import datetime as dt
import io
import pickle
import random
import re
import sys
from array import array
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st_
from test_guide import _errors, _texts
from test_split import _claims

from scrubber.commit import OutputSet
from scrubber.errors import InputError
from scrubber.guide.validator import GuideRun
from scrubber.piecekeys import PieceKeys, mark, maybe
from scrubber.runindex import ClaimKeys, LineKey
from scrubber.stitch import KeyFilter
from scrubber.synth import interchange, transaction_segments
from scrubber.writers.stitching import renumber_hls
from scrubber.x12.segments import Delimiters, Tokenizer


def _keys(ordinal: int, content: int | None, claim_id: int | None, days: list[int]) -> ClaimKeys:
    lines = tuple(LineKey(i, i + 1, day, dt.date(2025, 1, 1 + i), "99213", 1000, False, 0)
                  for i, day in enumerate(days))
    return ClaimKeys(ordinal, content, claim_id, lines)


def test_piece_keys_look_up_every_claim_and_record_only_accepted_ones() -> None:
    keys = PieceKeys()
    a = _keys(1, 11, 12, [13, 0, 14])
    b = _keys(2, 21, None, [22])  # rejected: looked up, not recorded
    c = _keys(3, None, 32, [])  # a replacement: no content key
    keys.claim(a, True)
    keys.claim(b, False)
    keys.claim(c, True)
    looked = array("q")
    looked.frombytes(keys.looked_up())
    assert sorted(looked) == [11, 12, 13, 14, 21, 22, 32]  # no 0 for what a claim lacks
    recorded = array("q")
    recorded.frombytes(keys.recorded())
    assert sorted(set(recorded) - {0}) == [11, 12, 13, 14, 32]  # 0: what a claim lacks, never looked up
    back = pickle.loads(pickle.dumps(keys))
    assert back.holding({14}) == [ClaimKeys(1, 11, 12, (a.lines[0], a.lines[2]))]  # lines with a day key
    assert back.holding({32, 11}) == [back.holding({14})[0], c]
    assert back.holding({21, 22, 99}) == []


def test_the_filter_passes_every_marked_key_and_few_others() -> None:
    rng = random.Random(5)
    recorded = [rng.getrandbits(64) - (1 << 63) for _ in range(3000)]  # digests: any 64-bit value
    others = [rng.getrandbits(64) - (1 << 63) for _ in range(20000)]
    bits = bytearray(1 << 14)  # 2**17 bits, 256 blocks of 512
    mark(bits, array("q", recorded).tobytes())
    assert maybe(bits, array("q", recorded).tobytes()) == recorded
    false_positives = len(maybe(bits, array("q", others).tobytes()))
    assert false_positives < len(others) // 50  # about 0.1 % at 40 bits a key, 3 bits each in a block
    # each key's bits in its own block, the block its low bits choose
    one = [rng.getrandbits(64) - (1 << 63)]
    alone = bytearray(1 << 14)
    mark(alone, array("q", one).tobytes())
    touched = [i for i, byte in enumerate(alone) if byte]
    assert touched and touched[0] // 64 == touched[-1] // 64 == one[0] % 256


def _key_file(path: Path, keys: list[int]) -> str:
    data = array("q", keys).tobytes()
    path.write_bytes(len(data).to_bytes(8, "little") + data + pickle.dumps(PieceKeys()))
    return str(path)


def test_the_parent_confirms_a_maybe_in_the_pieces_keys_and_nowhere_else(tmp_path: Path) -> None:
    rng = random.Random(7)
    pieces = [[rng.getrandbits(64) - (1 << 63) for _ in range(500)] for _ in range(3)]
    # A key whose eight bytes stand across two recorded keys (the end of one, the start of the
    # next) is not recorded: only whole keys count.
    a, b = pieces[1][10].to_bytes(8, sys.byteorder, signed=True), pieces[1][11].to_bytes(8, sys.byteorder, signed=True)
    straddling = int.from_bytes(a[4:] + b[:4], sys.byteorder, signed=True)
    keys = KeyFilter(2000)
    for i, piece in enumerate(pieces):
        keys.add(_key_file(tmp_path / f"{i}.keys", piece))
    keys.bits[:] = b"\xff" * len(keys.bits)  # every lookup a maybe: the files alone decide
    few = [pieces[0][3], pieces[2][499], straddling, 12345]
    assert keys.shared(array("q", few).tobytes()) == {pieces[0][3], pieces[2][499]}
    # many maybes (a file sent twice): the other way of looking, the same answer
    many = pieces[1][:40] + [straddling] + [rng.getrandbits(62) for _ in range(40)]
    assert keys.shared(array("q", many).tobytes()) == set(pieces[1][:40])
    assert KeyFilter(2000).shared(array("q", few).tobytes()) == set()  # nothing settled yet


def _tap(data: bytes, run: GuideRun) -> GuideRun:
    for _seg in run.tap(Tokenizer(io.BytesIO(data))):
        pass
    return run


def test_a_validator_that_learnt_on_other_inputs_finds_what_a_fresh_one_finds() -> None:
    """Piece after piece in one worker: inputs with other errors, and other delimiters, one after another."""
    before: GuideRun | None = None
    compared = 0
    segs = transaction_segments(_claims("D", 12))
    other = [("plain", interchange([segs]).encode()), ("other delimiters", interchange([segs], sep="|", comp=">").encode())]
    for name, data in [*other, *other, *_texts(60)]:
        run = GuideRun()
        if before is not None:
            run.learn_from(before)
        try:
            fresh = _errors(_tap(data, GuideRun()))
            learnt = _errors(_tap(data, run))
        except InputError:
            continue
        assert learnt == fresh, name
        assert before is None or before._delims is None or run._nodes is before._nodes or \
            (run._sep, run._comp) != (before._sep, before._comp)  # it did carry what it learnt
        before = run
        compared += 1
    assert compared > 40


def test_a_stitched_output_is_moved_into_place_not_copied(tmp_path: Path) -> None:
    files = {"277": "x.277", "837": "x.accepted.837"}
    with OutputSet(tmp_path / "out", "x", files) as out:
        spool = out.stage / "pieces" / "stitched.277"
        spool.parent.mkdir()
        spool.write_bytes(b"ISA*first part~")
        handle = out.open("277")
        moved = out.adopt("277", handle, spool)
        assert moved is not None and not spool.exists()
        moved.write("GE*then more~")
        foreign = io.StringIO()  # an output sent to a stream: not the set's to move
        out.open("837").write("837~")
        other = out.stage / "pieces" / "stitched.837"
        other.write_bytes(b"kept~")
        assert out.adopt("837", foreign, other) is None and other.exists()
        out.commit()
    assert (tmp_path / "out" / "x.277").read_bytes() == b"ISA*first part~GE*then more~"
    assert (tmp_path / "out" / "x.accepted.837").read_bytes() == b"837~"


# -- the accepted 837's HL renumbering (stitching) against the regular expression it replaced -----------
def _renumber_by_regex(text: str, shift: int, sep: str, term: str) -> str:
    s, t = re.escape(sep), re.escape(term)
    pattern = re.compile(f"(^|{t})([\\r\\n]*)HL{s}(\\d+){s}(\\d*){s}")

    def moved(m: re.Match[str]) -> str:
        parent = m[4]
        return f"{m[1]}{m[2]}HL{sep}{int(m[3]) + shift}{sep}{int(parent) + shift if parent else ''}{sep}"

    return pattern.sub(moved, text)


_HL_PARTS = st_.sampled_from(["HL*", "HL*1**20*1~", "HL*12*3*22*0~", "~", "\n", "\r\n", "*", "HL", "NM1*85*2*X~",
                             "HL*a*1*22~", "HL*7*", "HL*²*1*22~", "HL**1*22~", "CLM*HL*1*2*~", "9", "L*"])


@given(parts=st_.lists(_HL_PARTS, max_size=30), shift=st_.integers(-5, 50), term=st_.sampled_from(["~", "\n", "'"]))
@settings(max_examples=400, deadline=None)
def test_renumber_hls_agrees_with_the_regex(parts: list[str], shift: int, term: str) -> None:
    text = "".join(parts).replace("~", term)
    d = Delimiters(element="*", component=":", segment=term, repetition="^")
    assert renumber_hls(text, shift, d) == _renumber_by_regex(text, shift, "*", term)


def test_renumber_hls_moves_both_numbers_of_a_real_span() -> None:
    d = Delimiters(element="*", component=":", segment="~", repetition="^")
    text = "HL*1**20*1~NM1*85*2*HL*1*~\nHL*2*1*22*0~SBR*P*18~HL*3*1*22*0~CLM*A*1~"
    assert renumber_hls(text, 10, d) == "HL*11**20*1~NM1*85*2*HL*1*~\nHL*12*11*22*0~SBR*P*18~HL*13*11*22*0~CLM*A*1~"


def test_the_write_back_hint_reports_the_end_and_leaves_pipes_alone(tmp_path: Path) -> None:
    import os

    from scrubber.writers.stitching import start_write_back

    path = tmp_path / "stitched.837"
    with open(path, "wb") as fh:
        fh.write(b"x" * 10000)
        fh.flush()
        assert start_write_back(fh.fileno(), 0) == 10000
        fh.write(b"y" * 500)
        fh.flush()
        assert start_write_back(fh.fileno(), 10000) == 10500
        assert start_write_back(fh.fileno(), 10500) == 10500  # nothing new: nothing asked
    read, write = os.pipe()  # an output sent to a stream: no file to write back, and no error
    try:
        os.write(write, b"abc")
        assert start_write_back(write, 0) == 0
    finally:
        os.close(read)
        os.close(write)
