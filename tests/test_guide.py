"""The built-in implementation-guide validator: its parts, its cache, its outputs.

How it agrees with pyx12 claim by claim is tests/test_guide_differential.py; here: the fast
expressions never accept what the exact check refuses, the inline fast branch finds exactly what
the full path finds, the compiled tables are cached and rebuilt as they should be, and what the
validator makes (findings, 277CA lines, 999, accepted 837) is right and valid.
"""

from __future__ import annotations

import datetime as dt
import io
import pickle
import random
import re
import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES, SAMPLES
from mutate import corpus
from oracle import assert_valid_277, assert_valid_837, assert_valid_999

from scrubber.api import Options, scrub_bytes, scrub_to_dir
from scrubber.errors import InputError
from scrubber.guide import GuideRun, tables
from scrubber.guide.elements import check_segment
from scrubber.guide.tables import Seg, load_tables
from scrubber.synth import file_837
from scrubber.x12.segments import Tokenizer

NOW = dt.datetime(2025, 2, 1, 12, 0)
SAMPLE_FILES = sorted(p for p in SAMPLES.glob("*/*") if p.is_file()) if SAMPLES.exists() else []


def _texts(count: int = 250) -> list[tuple[str, bytes]]:
    out = [(p.name, p.read_bytes()) for p in SAMPLE_FILES if p.stat().st_size < 200_000]
    out += [(n, t.encode("latin-1")) for n, t in corpus(7, count, SAMPLE_FILES)]
    out.append(("mixed", (FIXTURES / "mixed.837").read_bytes()))
    out.append(("multi", (FIXTURES / "multi-interchange.837").read_bytes()))
    return out


def _by_feed(data: bytes) -> GuideRun:
    """The full path for every segment (no fast branch)."""
    run = GuideRun()
    tok = Tokenizer(io.BytesIO(data))
    for seg in tok:
        if seg.els[0] == "ISA":
            run.delimiters(tok.delimiters)
        run.feed(seg)
    return run


def _by_tap(data: bytes) -> GuideRun:
    run = GuideRun()
    for _seg in run.tap(Tokenizer(io.BytesIO(data))):
        pass
    return run


def _errors(run: GuideRun) -> list[tuple]:
    return sorted((k, e.number, e.segment_id, e.ik3, e.reader, e.element and (e.element.code, e.element.pos,
                   e.element.sub, e.element.what)) for k, errs in run.by_unit.items() for e in errs)


def test_fast_expressions_accept_nothing_the_exact_check_refuses() -> None:
    accepted = refused_but_clean = checked = 0
    for _name, data in _texts():
        run = GuideRun()
        tok = Tokenizer(io.BytesIO(data))
        try:
            for seg in tok:
                if seg.els[0] == "ISA":
                    run.delimiters(tok.delimiters)
                    run.walker.force(("ISA_LOOP", "ISA"))
                    continue
                if seg.els[0] == "GS":
                    run.walker.force(("ISA_LOOP", "GS_LOOP", "GS"))
                    continue
                node, _walk = run.walker.walk(seg.els, tok.delimiters.component)
                if not isinstance(node, Seg):
                    continue
                exact = check_segment(node, seg.els, tok.delimiters.component, run.tables.external)
                pattern = run.check.pattern(node)
                checked += 1
                if pattern and pattern.fullmatch(seg.raw):
                    accepted += 1
                    assert not exact and not (len(seg.els) > 1 and seg.els[-1] == ""), (seg.raw, exact)
                elif not exact:
                    refused_but_clean += 1
        except InputError:
            continue
    assert checked > 5000 and accepted > checked / 2
    # It may refuse a valid segment (the exact check then clears it) but seldom does.
    assert refused_but_clean < 0.02 * checked, (refused_but_clean, checked)


def test_the_fast_branch_finds_exactly_what_the_full_path_finds() -> None:
    compared = 0
    for name, data in _texts():
        try:
            full = _errors(_by_feed(data))
            fast = _errors(_by_tap(data))
        except InputError:
            continue
        assert fast == full, name
        compared += 1
    assert compared > 200


def test_the_fast_branch_agrees_on_texts_it_has_seen_many_times() -> None:
    # By the 20th claim every repeated text is looked up whole: a known text over its maximum, a
    # known LX text with the wrong number and a claim that is its CLM alone before SE (its gaps
    # are the claim's, the unit of the segment before SE) must come out as on the full path.
    claims = [{"id": f"C{i}", "member_id": f"M{i}", "dx": ["G24.3"],
               "lines": [{"code": "99213", "charge": "100.00"}, {"code": "99214", "charge": "150.00"}]}
              for i in range(30)]
    text = file_837(claims)
    term = text.lstrip()[105]
    segs = [s.strip() for s in text.split(term)]
    starts = [i for i, s in enumerate(segs) if s.startswith("CLM*")]

    def first(claim: int, prefix: str) -> int:
        return next(j for j in range(starts[claim], len(segs)) if segs[j].startswith(prefix))

    se = next(j for j, s in enumerate(segs) if s.startswith("SE*"))
    twice = {first(20, "DTP*472"), first(24, "REF*D9")}
    wrong_lx = first(22, "LX*2")
    out: list[str] = []
    for j, seg in enumerate(segs):
        if starts[-1] < j < se:
            continue
        out += ["LX*1"] if j == wrong_lx else [seg] * (2 if j in twice else 1)
    data = term.join(out).encode()
    full, fast = _errors(_by_feed(data)), _errors(_by_tap(data))
    assert fast == full
    last_claim = out.index(segs[starts[-1]]) - out.index(next(x for x in out if x.startswith("ST*"))) + 1
    assert {(e[2], e[3], e[4]) for e in full} == {("DTP", "5", ""), ("REF", "5", ""), ("LX", "8", "lx"),
                                                  ("HI", "3", ""), ("LX", "3", "")}
    assert all(k[1] == last_claim for k, _n, sid, code, *_ in full if code == "3"), full


def test_tables_are_cached_on_disk_and_rebuilt_when_the_key_changes(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(tables, "_LOADED", {})
    built = []
    real = tables.compile_tables
    monkeypatch.setattr(tables, "compile_tables", lambda: built.append(1) or real())
    first = load_tables()
    files = list((tmp_path / "scrubber").glob("guide-*.pickle"))
    assert len(files) == 1 and built == [1]
    assert f"-pyx12-{tables._pyx12_version()}-" in files[0].name
    # A new process (empty memory) reads the file instead of compiling.
    monkeypatch.setattr(tables, "_LOADED", {})
    second = load_tables()
    assert built == [1] and len(second.segments) == len(first.segments)
    # Another pyx12 (another key): built again, in a file of its own.
    monkeypatch.setattr(tables, "_LOADED", {})
    monkeypatch.setattr(tables, "_IDENTITIES", {})
    monkeypatch.setattr(tables, "_pyx12_version", lambda: "9.9.9")
    load_tables()
    assert built == [1, 1] and len(list((tmp_path / "scrubber").glob("guide-*.pickle"))) == 2
    # A damaged cache file is rebuilt, not trusted.
    monkeypatch.setattr(tables, "_LOADED", {})
    (path,) = [p for p in (tmp_path / "scrubber").glob("guide-*9.9.9*.pickle")]
    path.write_bytes(b"not a pickle")
    assert load_tables().segments and built == [1, 1, 1]
    assert pickle.loads(path.read_bytes()).segments  # and written back whole


def test_pyx12s_version_is_asked_once_a_process_until_its_map_files_change(tmp_path: Path, monkeypatch) -> None:
    # Each piece of a split run makes a validator; asking the package metadata each time cost a
    # millisecond a piece. New map files (a pyx12 installed over the old one) are asked about again.
    maps = tmp_path / "map"
    maps.mkdir()
    for name in (tables.MAP_FILE, tables.CONTROL_FILE, "dataele.xml", "codes.xml"):
        shutil.copy(tables._map_dir() / name, maps / name)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(tables, "_map_dir", lambda: maps)
    monkeypatch.setattr(tables, "_IDENTITIES", {})
    asked: list[int] = []
    real = tables._pyx12_version
    monkeypatch.setattr(tables, "_pyx12_version", lambda: asked.append(1) or real())
    first = tables._cache_file()
    assert tables._cache_file() == first and len(asked) == 1
    with open(maps / "codes.xml", "a") as fh:
        fh.write("\n")
    second = tables._cache_file()
    assert len(asked) == 2 and second != first  # another key: the old cache is not read


def test_an_unwritable_cache_folder_only_means_building_in_memory(tmp_path: Path, monkeypatch) -> None:
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # scrubber/ cannot be made under a file
    monkeypatch.setattr(tables, "_LOADED", {})
    result = scrub_bytes(file_837([{"id": "C1", "lines": [{"code": "99213", "basis": "XX"}]}]).encode(), "c.837",
                         options=Options(html=False, now=NOW))
    assert result.claims[0].rejected and any(f.edit == "X12-IG" for f in result.claims[0].findings)


def _claims_with(*specs: dict) -> list[dict]:
    return [{"member_id": f"M{i}", **s} for i, s in enumerate(specs)]


def test_a_line_error_rejects_that_line_in_the_277ca_and_the_rest_of_the_file_goes_on() -> None:
    text = file_837(_claims_with({"id": "OK1"}, {"id": "BAD", "lines": [{"code": "99213"}, {"code": "99214", "basis": "XX"}]},
                                 {"id": "OK2"}))
    result = scrub_bytes(text.encode(), "l.837", options=Options(html=False, now=NOW))
    assert [sc.claim.claim_id for sc in result.claims if sc.rejected] == ["BAD"]
    ack = result.ack_277().decode("latin-1")
    bad = ack[ack.index("TRN*2*BAD"):]
    bad = bad[: bad.index("HL*", 1) if "HL*" in bad[1:] else len(bad)]
    assert bad.count("SVC*") == 1 and "SVC*HC:99214" in bad and "STC*A3:21**U" in bad
    assert_valid_277(ack)
    assert_valid_837(result.accepted_837())
    assert_valid_999(result.ack_999_text)
    assert "IK3*SV1*" in result.ack_999_text and "IK4*3*355*7*XX" in result.ack_999_text


def test_an_error_in_the_billing_provider_loop_holds_every_claim_beneath_it() -> None:
    from scrubber.synth import interchange, transaction_segments

    first = transaction_segments(_claims_with({"id": "A1"}, {"id": "A2", "dependent": {"first": "KIM"}}))
    first = [s.replace("PRV*BI*PXC*", "PRV*BI*ZZ*") for s in first]  # PRV02 is no qualifier the guide lists
    other = transaction_segments(_claims_with({"id": "B1"}), control="0002")
    result = scrub_bytes(interchange([first, other]).encode(), "b.837", options=Options(html=False, now=NOW))
    held = {sc.claim.claim_id: [f.message for f in sc.findings if f.edit == "X12-IG"] for sc in result.claims}
    assert held["B1"] == [] and len(held["A1"]) == len(held["A2"]) == 1
    assert "billing provider loop (2000A)" in held["A1"][0] and "PRV02" in held["A1"][0] and "(ZZ)" in held["A1"][0]
    assert_valid_999(result.ack_999_text)
    assert "IK5*E*5" in result.ack_999_text and "IK5*A" in result.ack_999_text


def test_envelope_errors_are_notices_and_go_to_the_999_not_to_claims() -> None:
    text = file_837([{"id": "E1"}]).replace("GS*HC*SUBMIT01*SCRUB01*20250201*1200*", "GS*HC*SUBMIT01*SCRUB01*20250231*1200*")
    result = scrub_bytes(text.encode(), "e.837", options=Options(html=False, now=NOW))
    assert not result.claims[0].rejected
    assert any("GS" in n and "GS04" in n for n in result.summary.notices)


def test_the_999_goes_away_when_a_new_run_finds_nothing(tmp_path: Path) -> None:
    src = tmp_path / "in.837"
    src.write_text(file_837([{"id": "X", "lines": [{"code": "99213", "basis": "XX"}]}]))
    out = tmp_path / "out"
    scrub_to_dir(src, out, options=Options(html=False, now=NOW))
    assert_valid_999((out / "in.999").read_text())
    src.write_text(file_837([{"id": "X"}]))
    scrub_to_dir(src, out, options=Options(html=False, now=NOW))
    assert not (out / "in.999").exists()


def test_indented_segments_come_out_without_their_indentation() -> None:
    text = file_837([{"id": "I1"}, {"id": "I2", "member_id": "M2"}], term="\n", newline="")
    indented = "\n".join(("   " + line if i % 3 else line) for i, line in enumerate(text.split("\n")))
    result = scrub_bytes(indented.encode(), "i.837", options=Options(html=False, now=NOW))
    assert not any(sc.rejected for sc in result.claims)
    out = result.accepted_837().decode("latin-1")
    assert out.count("\n") > 20 and not any(line.startswith((" ", "\t")) for line in out.split("\n"))
    assert_valid_837(out)
    assert_valid_277(result.ack_277())


@pytest.mark.parametrize("seed", range(3))
def test_999_of_mutated_files_validate(seed: int) -> None:
    rng = random.Random(seed)
    done = 0
    for _name, text in corpus(100 + seed, 40, SAMPLE_FILES):
        try:
            result = scrub_bytes(text.encode("latin-1"), "m.837", options=Options(html=False, now=NOW))
        except InputError:
            continue
        if result.ack_999_text and rng.random() < 0.5:
            assert_valid_999(result.ack_999_text)
            done += 1
    assert done >= 5


def test_command_line_choices(tmp_path: Path) -> None:
    from scrubber.cli import main

    src = tmp_path / "c.837"
    src.write_text(file_837([{"id": "X", "lines": [{"code": "99213", "basis": "XX"}]}]))
    assert main(["scrub", str(src), "-o", str(tmp_path / "builtin"), "--no-html"]) == 1
    assert (tmp_path / "builtin" / "c.999").exists()
    assert main(["scrub", str(src), "-o", str(tmp_path / "off"), "--no-html", "--validate", "off"]) == 0
    assert not (tmp_path / "off" / "c.999").exists()
    assert main(["scrub", str(src), "-o", str(tmp_path / "pyx12"), "--no-html", "--validate", "pyx12"]) == 1
    assert "pyx12 error 7" in (tmp_path / "pyx12" / "c.report.json").read_text()


def test_character_classes_written_with_ranges_hold_exactly_the_set() -> None:
    from scrubber.guide.fast import _E5, _charset

    for sep, comp in (("*", ":"), ("|", ">"), ("^", "\\"), ("-", "."), ("!", "@"), ("~", "`")):
        for space in (True, False):
            pattern = re.compile(_charset(sep, comp, space))
            allowed = {chr(i) for i in range(0x250) if pattern.fullmatch(chr(i))}
            assert allowed == {c for c in _E5 if c not in (sep, comp) and (space or c != " ")}
