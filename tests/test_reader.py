"""The reader copes with what real 837P files carry.

Every test reads through ``scrubber.api.scrub_bytes`` (what users call) and, where the detail
matters, through the raw claim units of ``scrubber.x12.reader.Reader``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from scrubber.api import Options, Result, scrub_bytes, scrub_to_dir
from scrubber.engine import Engine
from scrubber.errors import InputError
from scrubber.model import ClaimUnit, Group, Transaction
from scrubber.reports import claims as claims_of
from scrubber.rules.catalog import load_catalog
from scrubber.synth import file_837, interchange, transaction_segments
from scrubber.x12.reader import Reader

FIXED = Options(now=dt.datetime(2025, 3, 1, 9, 30), control_base=4242)
# Reading is tested with the claim-integrity pack only: business edits (chemodenervation, ...)
# would reject some of these synthetic claims for reasons that have nothing to do with reading.
# The implementation-guide check is off for the same reason: these files show what the reader
# copes with (latin-1 letters, control bytes, HL numbers running on across STs), which the guide
# refuses; tests/test_guide.py checks that it does.
CORE = Engine(only={e.id for e in load_catalog().pack("core").edits})


# -- helpers -------------------------------------------------------------------------------


def units(data: bytes) -> list[ClaimUnit]:
    """The claim units the reader yields, in order."""
    return [ev for ev in Reader(io.BytesIO(data)).events() if isinstance(ev, ClaimUnit)]


def events(data: bytes) -> list[Any]:
    return list(Reader(io.BytesIO(data)).events())


def scrub(data: bytes) -> Result:
    return scrub_bytes(data, "in.837", options=Options(now=FIXED.now, control_base=FIXED.control_base, guide="off"),
                       engine=CORE)


def ids(result: Result) -> list[str]:
    return [sc.claim.claim_id for sc in result.claims]


def report(result: Result) -> dict[str, Any]:
    return json.loads(result.to_json())


def digest(result: Result) -> list[tuple[Any, ...]]:
    """What a claim is, independent of how the file spelled it."""
    out = []
    for sc in result.claims:
        c = sc.claim
        out.append(
            (
                c.claim_id,
                c.charge,
                c.transaction.control,
                c.subscriber.last if c.subscriber else None,
                c.subscriber.member_id if c.subscriber else None,
                c.patient.first if c.patient else None,
                c.payer_id,
                tuple((d.qualifier, d.code) for d in c.diagnoses),
                tuple((ln.code, ln.modifiers, ln.charge, ln.units, ln.pointers, c.line_dos(ln)) for ln in c.lines),
                sc.rejected,
                tuple(f.edit for f in sc.findings),
            )
        )
    return out


def isa(control: int, *, sep: str = "*", comp: str = ":", rep: str = "^", version: str = "00501") -> str:
    text = (
        f"ISA*00*{'':10}*00*{'':10}*ZZ*{'SUBMIT01':<15}*ZZ*{'SCRUB01':<15}*250201*1200*{rep}*{version}*"
        f"{control:09d}*0*T*{comp}"
    )
    return text.replace("*", sep)


def envelope(groups: list[list[list[str]]], *, control: int = 1) -> str:
    """One ISA holding several GS, each holding several ST (segments written with '*', ':' and '~')."""
    segs = [isa(control)]
    for g, transactions in enumerate(groups, start=1):
        gs_control = control * 100 + g
        segs.append(f"GS*HC*SUBMIT01*SCRUB01*20250201*1200*{gs_control}*X*005010X222A1")
        for t in transactions:
            segs += t
        segs.append(f"GE*{len(transactions)}*{gs_control}")
    segs.append(f"IEA*{len(groups)}*{control:09d}")
    return "".join(s + "~\n" for s in segs)


def insert_before_lx(segs: list[str], claim_id: str, extra: list[str]) -> list[str]:
    """Put ``extra`` into claim ``claim_id`` just before its first LX (where 2310x/2320/2330x live)."""
    start = next(i for i, s in enumerate(segs) if s.startswith(f"CLM*{claim_id}*"))
    lx = next(i for i in range(start, len(segs)) if segs[i].startswith("LX*"))
    return fix_se(segs[:lx] + extra + segs[lx:])


def fix_se(segs: list[str]) -> list[str]:
    """Keep SE01 honest after inserting segments into an ST ... SE list."""
    assert segs[-1].startswith("SE*")
    return [*segs[:-1], re.sub(r"^SE\*\d+", f"SE*{len(segs)}", segs[-1])]


def spec(claim_id: str, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": claim_id,
        "dx": ["G24.3", "R51.9"],
        "lines": [{"code": "64616", "mods": ["RT", "59"], "charge": "150.00", "units": "2", "ptr": ["2", "1"]}],
    }
    base.update(kw)
    return base


# -- delimiters ----------------------------------------------------------------------------


def _three_interchanges() -> str:
    a = file_837(
        [
            spec("STAR-1"),
            spec("STAR-2", lines=[{"code": "99213", "mods": ["25"], "charge": "80.00", "ptr": ["1"]}]),
        ],
        control=101,
    )
    b = file_837(
        [spec("PIPE-1", lines=[{"code": "64615", "mods": ["50", "GA", "KX"], "charge": "300.00", "ptr": ["1", "2"]}])],
        control=202,
        sep="|",
        comp=">",
        term="\n",
        newline="",
    )
    c = file_837(
        [spec("BANG-1", lines=[{"code": "J0585", "mods": ["JZ"], "charge": "90.00", "units": "100", "ptr": ["2"]}])],
        control=303,
        sep="!",
        comp="^",
        rep="{",
        term="'",
        newline="",
    )
    return a + b + c


def test_interchanges_with_different_delimiters_in_one_file() -> None:
    text = _three_interchanges()
    data = text.encode("ascii")
    result = scrub(data)

    assert ids(result) == ["STAR-1", "STAR-2", "PIPE-1", "BANG-1"]
    assert result.summary.transactions == 3
    assert result.summary.notices == []
    got = {sc.claim.claim_id: sc.claim for sc in result.claims}

    star = got["STAR-1"]
    assert (star.delimiters.element, star.delimiters.component, star.delimiters.segment) == ("*", ":", "~")
    assert [(d.qualifier, d.code) for d in star.diagnoses] == [("ABK", "G243"), ("ABF", "R519")]
    assert [(ln.code, ln.modifiers, ln.pointers, ln.units) for ln in star.lines] == [
        ("64616", ("RT", "59"), ("2", "1"), "2")
    ]
    assert [(ln.code, ln.modifiers, ln.pointers) for ln in got["STAR-2"].lines] == [("99213", ("25",), ("1",))]

    pipe = got["PIPE-1"]
    assert (pipe.delimiters.element, pipe.delimiters.component, pipe.delimiters.segment) == ("|", ">", "\n")
    assert pipe.place == "11" and pipe.frequency == "1"  # CLM05 split on '>'
    assert [(d.qualifier, d.code) for d in pipe.diagnoses] == [("ABK", "G243"), ("ABF", "R519")]
    assert [(ln.qualifier, ln.code, ln.modifiers, ln.pointers, ln.charge) for ln in pipe.lines] == [
        ("HC", "64615", ("50", "GA", "KX"), ("1", "2"), "300.00")
    ]

    bang = got["BANG-1"]
    assert (bang.delimiters.element, bang.delimiters.component, bang.delimiters.segment) == ("!", "^", "'")
    assert bang.delimiters.repetition == "{"
    assert [(ln.code, ln.modifiers, ln.pointers, ln.units) for ln in bang.lines] == [("J0585", ("JZ",), ("2",), "100")]
    assert bang.charge == "90.00"

    # every claim belongs to its own interchange
    assert [sc.claim.transaction.group.interchange.control for sc in result.claims] == [
        "000000101",
        "000000101",
        "000000202",
        "000000303",
    ]
    doc = report(result)
    assert [c["interchange"] for c in claims_of(doc)] == ["000000101", "000000101", "000000202", "000000303"]
    assert doc["accepted"] == 4, doc


def test_accepted_837_keeps_each_interchanges_delimiters() -> None:
    text = _three_interchanges()
    result = scrub(text.encode("ascii"))
    out = result.accepted_837().decode("latin-1")
    # nothing rejected: the output is the input, line breaks between interchanges included
    assert result.summary.rejected == 0
    assert out == text
    # the kept claims are written with the delimiters they came with
    assert "SV1*HC:64616:RT:59*150.00*UN*2***2:1~" in out
    assert "SV1|HC>64615>50>GA>KX|300.00|UN|1|||1>2\n" in out
    assert "SV1!HC^J0585^JZ!90.00!UN!100!!!2'" in out
    # and the output reads back as the same claims
    again = scrub(out.encode("latin-1"))
    assert digest(again) == digest(result)


def test_277_per_interchange_uses_that_interchanges_claims() -> None:
    result = scrub(_three_interchanges().encode("ascii"))
    ack = result.ack_277().decode("latin-1")
    for claim_id in ("STAR-1", "STAR-2", "PIPE-1", "BANG-1"):
        assert re.search(rf"TRN.2.{re.escape(claim_id)}\W", ack), claim_id


# -- several GS, several ST ----------------------------------------------------------------


def _hl_count(segs: list[str]) -> int:
    return sum(1 for s in segs if s.startswith("HL*"))


def test_several_groups_and_transactions_hl_restarting_and_continuing() -> None:
    st1 = transaction_segments([spec("G1-T1-A"), spec("G1-T1-B", member_id="M2")], control="0001", bht03="B1")
    st2 = transaction_segments([spec("G1-T2-A")], control="0002", bht03="B2")  # HL restarts at 1
    st3 = transaction_segments(
        [spec("G2-T3-A"), spec("G2-T3-B", dependent={"last": "KID", "first": "KAY"})], control="0003", bht03="B3"
    )
    # HL continues from the previous ST
    st4 = transaction_segments(
        [spec("G2-T4-A"), spec("G2-T4-B", member_id="M9")], control="0004", bht03="B4", hl_start=_hl_count(st3) + 1
    )
    assert st4[5].startswith(f"HL*{_hl_count(st3) + 1}**20*")  # the builder did what we asked
    text = envelope([[st1, st2], [st3, st4]], control=7)
    data = text.encode("ascii")

    evs = events(data)
    assert sum(isinstance(e, Group) for e in evs) == 2
    assert [e.control for e in evs if isinstance(e, Transaction)] == ["0001", "0002", "0003", "0004"]

    result = scrub(data)
    expected = ["G1-T1-A", "G1-T1-B", "G1-T2-A", "G2-T3-A", "G2-T3-B", "G2-T4-A", "G2-T4-B"]
    assert ids(result) == expected
    assert result.summary.transactions == 4
    assert result.summary.rejected == 0, [(sc.claim.claim_id, sc.findings) for sc in result.claims if sc.rejected]
    assert result.summary.notices == []
    claims = [sc.claim for sc in result.claims]
    assert [c.transaction.control for c in claims] == ["0001", "0001", "0002", "0003", "0003", "0004", "0004"]
    assert [c.transaction.group.control for c in claims] == ["701", "701", "701", "702", "702", "702", "702"]
    assert [c.transaction.bht03 for c in claims] == ["B1", "B1", "B2", "B3", "B3", "B4", "B4"]
    assert claims[4].patient is not None and claims[4].patient.first == "KAY"
    assert claims[5].billing is not None and claims[5].billing.hl_id == str(_hl_count(st3) + 1)

    # one 277 ST per 837 ST, each echoing its BHT03
    ack = result.ack_277().decode("latin-1")
    assert ack.count("ST*277*") == 4
    for b in ("B1", "B2", "B3", "B4"):
        assert f"TRN*2*{b}~" in ack

    # every claim kept in the accepted 837, under the right transactions
    again = scrub(result.accepted_837())
    assert ids(again) == expected
    assert [sc.claim.transaction.control for sc in again.claims] == [c.transaction.control for c in claims]


# -- byte-level variations -----------------------------------------------------------------


def _base_claims() -> list[dict[str, Any]]:
    return [
        spec("WS-1"),
        spec("WS-2", member_id="M2", last="ROE", dependent={"last": "ROE", "first": "RICKY"}),
        spec("WS-3", member_id="M3", charge="999.00"),  # rejected: charges do not balance
    ]


def _variant(kind: str) -> bytes:
    claims = _base_claims()
    if kind == "plain":
        return file_837(claims).encode()
    if kind == "bom":
        return b"\xef\xbb\xbf" + file_837(claims).encode()
    if kind == "crlf-after-terminator":
        return file_837(claims, newline="\r\n").encode()
    if kind == "no-newline":
        return file_837(claims, newline="").encode()
    if kind == "no-trailing-newline":
        return file_837(claims).rstrip("\n").encode()
    if kind == "newline-terminator":
        return file_837(claims, term="\n", newline="").encode()
    if kind == "crlf-terminator":
        return file_837(claims, term="\r\n", newline="").encode()
    if kind == "indented":
        text = file_837(claims)
        return "".join("    " + ln + "\n" for ln in text.splitlines()).encode()
    if kind == "indented-newline-terminator":
        text = file_837(claims, term="\n", newline="")
        return "".join("  \t" + ln + "\n" for ln in text.splitlines()).encode()
    if kind == "leading-blank-lines":
        return b"\r\n\n  " + file_837(claims).encode() + b"\n\n"
    if kind == "bom-crlf-terminator":
        return b"\xef\xbb\xbf" + file_837(claims, term="\r\n", newline="").encode()
    raise AssertionError(kind)


VARIANTS = [
    "bom",
    "crlf-after-terminator",
    "no-newline",
    "no-trailing-newline",
    "newline-terminator",
    "crlf-terminator",
    "indented",
    "indented-newline-terminator",
    "leading-blank-lines",
    "bom-crlf-terminator",
]


@pytest.mark.parametrize("kind", VARIANTS)
def test_layout_variants_read_the_same_claims(kind: str) -> None:
    baseline = scrub(_variant("plain"))
    assert ids(baseline) == ["WS-1", "WS-2", "WS-3"]
    assert [sc.rejected for sc in baseline.claims] == [False, False, True]

    data = _variant(kind)
    result = scrub(data)
    assert digest(result) == digest(baseline)
    assert result.summary.notices == []
    # segment numbers (what findings point at) do not depend on the layout
    assert [[s.number for s in sc.claim.segments] for sc in result.claims] == [
        [s.number for s in sc.claim.segments] for sc in baseline.claims
    ]
    # and the 277 says the same
    assert re.sub(rb"[~\r\n]", b"", result.ack_277()) == re.sub(rb"[~\r\n]", b"", baseline.ack_277())


@pytest.mark.parametrize("term", ["\n", "\r\n", "~"])
def test_last_iea_without_terminator_or_newline(term: str) -> None:
    # the last line (IEA) lacks its newline; with '~', the last IEA lacks its terminator
    text = file_837(_base_claims(), term=term, newline="").rstrip("\r\n~")
    assert text.endswith("IEA*1*000000001")
    result = scrub(text.encode())
    assert digest(result) == digest(scrub(_variant("plain")))


def test_bom_is_not_part_of_the_isa_and_not_copied() -> None:
    data = _variant("bom")
    result = scrub(data)
    out = result.accepted_837()
    assert out.startswith(b"ISA*00*")
    assert b"\xef\xbb\xbf" not in out
    assert "\ufeff" not in result.claims[0].claim.transaction.group.interchange.isa.raw


def test_crlf_accepted_837_keeps_line_endings() -> None:
    data = _variant("crlf-after-terminator")
    out = scrub(data).accepted_837()
    # the rejected claim is gone, the others keep CR LF after each terminator
    assert b"WS-3" not in out and b"CLM*WS-1*" in out
    assert b"~\r\nCLM*WS-1*" in out
    assert re.search(rb"~(?!\r\n)", out) is None


# -- non-ASCII bytes -----------------------------------------------------------------------


def _muñoz(encoding: str) -> tuple[bytes, bytes]:
    """A file whose subscriber and dependent carry 'MUÑOZ' in ``encoding``, with one rejected claim first."""
    text = file_837(
        [
            spec("NA-REJ", charge="1.00"),  # rejected: does not balance
            spec("NA-OK", member_id="M7", last="MUÑOZ", first="JOSÉ", dependent={"last": "MUÑOZ", "first": "IÑAKI"}),
        ]
    )
    return text.encode(encoding), "MUÑOZ".encode(encoding)


@pytest.mark.parametrize("encoding", ["latin-1", "utf-8"])
def test_non_ascii_names_are_read(encoding: str) -> None:
    data, name = _muñoz(encoding)
    result = scrub(data)
    assert ids(result) == ["NA-REJ", "NA-OK"]
    assert [sc.rejected for sc in result.claims] == [True, False]
    claim = result.claims[1].claim
    assert claim.subscriber is not None and claim.patient is not None
    # read as latin-1: one character per byte, so the name's bytes come back exactly
    assert claim.subscriber.last.encode("latin-1") == name
    assert claim.patient.last.encode("latin-1") == name
    assert claim.patient.first.encode("latin-1") == "IÑAKI".encode(encoding)
    assert claim.subscriber.member_id == "M7"


@pytest.mark.parametrize("encoding", ["latin-1", "utf-8"])
def test_non_ascii_bytes_survive_in_accepted_837(encoding: str, tmp_path: Path) -> None:
    data, name = _muñoz(encoding)
    src = tmp_path / "names.837"
    src.write_bytes(data)
    out_dir = tmp_path / "out"
    summary = scrub_to_dir(src, out_dir, options=Options(html=False, now=FIXED.now, control_base=1, guide="off"),
                           engine=CORE)
    assert (summary.accepted, summary.rejected) == (1, 1)
    out = (out_dir / "names.accepted.837").read_bytes()
    assert b"NA-REJ" not in out
    # the subscriber loop (after its renumbered HL) and the dependent's loop and claim are verbatim
    sbr_start = data.index(b"SBR*P**GRP01******CI~\nNM1*IL*1*" + name)
    sub_end = data.index(b"HL*", sbr_start)
    pat_start = data.index(b"PAT*19~", sub_end)
    claim_end = data.index(b"SE*", pat_start)
    assert data[sbr_start:sub_end] in out
    assert data[pat_start:claim_end] in out
    assert b"NM1*QC*1*" + name + b"*" + "IÑAKI".encode(encoding) + b"~" in out


@pytest.mark.parametrize("encoding", ["latin-1", "utf-8"])
def test_non_ascii_all_accepted_output_is_byte_identical(encoding: str) -> None:
    text = file_837([spec("NA-1", last="MUÑOZ", first="ÁNGEL"), spec("NA-2", member_id="Z2", last="PEÑA")])
    data = text.encode(encoding)
    result = scrub(data)
    assert result.summary.accepted == 2
    assert result.accepted_837() == data


def test_stray_control_bytes_in_claims_are_read_and_kept() -> None:
    text = file_837(
        [
            spec("CB-REJ", charge="1.00", segments=["NTE*ADD*BAD\x01BYTE"]),  # rejected: does not balance
            spec("CB-OK", member_id="M2", segments=["NTE*ADD*FORM\x0cFEED\x1aSUB"]),
        ]
    )
    data = text.encode("latin-1")
    result = scrub_bytes(data, "ctl.837", options=Options(guide="off"))
    assert ids(result) == ["CB-REJ", "CB-OK"]
    assert [sc.rejected for sc in result.claims] == [True, False]
    assert b"NTE*ADD*FORM\x0cFEED\x1aSUB~" in result.accepted_837()
    assert "CB-REJ" in result.to_html()


# -- UTF-16 --------------------------------------------------------------------------------


def _utf16_source() -> str:
    return file_837(
        [
            spec("U16-1"),
            spec("U16-2", member_id="M2", last="MUÑOZ", dependent={"last": "MUÑOZ", "first": "ANA"}),
            spec("U16-3", charge="5.00"),  # rejected
        ]
    )


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda t: b"\xff\xfe" + t.encode("utf-16-le"), id="le-bom"),
        pytest.param(lambda t: b"\xfe\xff" + t.encode("utf-16-be"), id="be-bom"),
        pytest.param(lambda t: t.encode("utf-16"), id="native-bom"),
        pytest.param(lambda t: t.encode("utf-16-le"), id="le-no-bom"),
    ],
)
def test_utf16_input_reads_like_the_single_byte_file(encode: Any) -> None:
    text = _utf16_source()
    single = scrub(text.encode("latin-1"))
    assert ids(single) == ["U16-1", "U16-2", "U16-3"]
    assert [sc.rejected for sc in single.claims] == [False, False, True]

    wide = scrub(encode(text))
    assert digest(wide) == digest(single)
    assert wide.claims[1].claim.subscriber is not None
    assert wide.claims[1].claim.subscriber.last == "MUÑOZ"
    assert wide.ack_277() == single.ack_277()
    a, b = report(wide), report(single)
    assert claims_of(a) == claims_of(b)
    assert (a["accepted"], a["rejected"]) == (2, 1)


# -- versions ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["005010X222", "005010X222A1", "005010X222A2"])
def test_837p_versions_are_read(version: str) -> None:
    data = file_837([spec("V-1"), spec("V-2", member_id="M2")], version=version).encode()
    assert f"*{version}~" in data.decode()
    evs = events(data)
    assert [e.version for e in evs if isinstance(e, Group)] == [version]
    assert [e.version for e in evs if isinstance(e, Transaction)] == [version]
    result = scrub(data)
    assert ids(result) == ["V-1", "V-2"]
    assert result.summary.accepted == 2


def _4010(where: str) -> bytes:
    text = file_837([spec("OLD-1")])
    if where in ("all", "gs"):
        text = text.replace("*X*005010X222A1~", "*X*004010X098A1~")
    if where in ("all", "st"):
        text = text.replace("ST*837*0001*005010X222A1~", "ST*837*0001*004010X098A1~")
    if where == "all":
        text = text.replace("*^*00501*", "*U*00401*")
    return text.encode()


@pytest.mark.parametrize("where", ["all", "gs", "st"])
def test_4010_is_refused(where: str) -> None:
    data = _4010(where)
    assert b"004010X098A1" in data
    with pytest.raises(InputError) as info:
        scrub(data)
    assert "4010" in str(info.value) or "00401" in str(info.value)


# -- subscriber / patient ------------------------------------------------------------------


def test_subscriber_and_dependent_claims_in_one_transaction() -> None:
    claims = [
        spec("SELF-1", member_id="S1", last="SMITH", first="JOHN"),
        spec("DEP-1", member_id="S2", last="BROWN", first="ANN", dependent={"last": "BROWN", "first": "TIM"}),
        spec("DEP-2", member_id="S2", last="BROWN", first="ANN", dependent={"last": "BROWN", "first": "TIM"}),
        spec("SELF-2", member_id="S3", last="LEE", first="KIM"),
        spec(
            "DEP-3",
            member_id="S4",
            last="GARCIA",
            first="LUIS",
            dependent={"last": "GARCIA", "first": "SOFIA", "relationship": "01"},
        ),
        spec("SELF-3", member_id="S4", last="GARCIA", first="LUIS"),
    ]
    data = file_837(claims).encode()
    result = scrub(data)
    assert ids(result) == [c["id"] for c in claims]
    assert result.summary.rejected == 0
    got = {sc.claim.claim_id: sc.claim for sc in result.claims}

    def who(c: ClaimUnit) -> tuple[Any, ...]:
        s, p = c.subscriber, c.patient
        assert s is not None
        return (
            s.relationship,
            s.last,
            s.first,
            s.member_id,
            (p.relationship, p.last, p.first) if p is not None else None,
        )

    assert who(got["SELF-1"]) == ("18", "SMITH", "JOHN", "S1", None)
    assert who(got["DEP-1"]) == ("", "BROWN", "ANN", "S2", ("19", "BROWN", "TIM"))
    assert who(got["DEP-2"]) == ("", "BROWN", "ANN", "S2", ("19", "BROWN", "TIM"))
    assert got["DEP-1"].patient is got["DEP-2"].patient  # one 2000C, two claims
    assert who(got["SELF-2"]) == ("18", "LEE", "KIM", "S3", None)
    assert who(got["DEP-3"]) == ("", "GARCIA", "LUIS", "S4", ("01", "GARCIA", "SOFIA"))
    assert who(got["SELF-3"]) == ("18", "GARCIA", "LUIS", "S4", None)

    # the 277 names the patient of each claim: the dependent when there is one
    ack = result.ack_277().decode("latin-1")
    for claim_id, last, first in [
        ("SELF-1", "SMITH", "JOHN"),
        ("DEP-1", "BROWN", "TIM"),
        ("DEP-2", "BROWN", "TIM"),
        ("SELF-2", "LEE", "KIM"),
        ("DEP-3", "GARCIA", "SOFIA"),
        ("SELF-3", "GARCIA", "LUIS"),
    ]:
        assert re.search(rf"NM1\*QC\*1\*{last}\*{first}\*[^~]*~\nTRN\*2\*{claim_id}~", ack), claim_id

    # the accepted 837 keeps each claim under its own patient
    again = scrub(result.accepted_837())
    assert [who(sc.claim) for sc in again.claims] == [who(sc.claim) for sc in result.claims]


# -- 2300 / 2400 fields --------------------------------------------------------------------

OTHER_PAYER = [
    "SBR*S*18*OTHGRP******CI",
    "AMT*D*0",
    "OI***Y*P**Y",
    "NM1*IL*1*DOE*JANE****MI*OTHER001",
    "NM1*PR*2*OTHER PLAN*****PI*OTH01",
    "REF*G1*OTHER-PAYER-AUTH",
]


def _fields_file() -> bytes:
    claims = [
        {
            "id": "FLD-1",
            "dos": "2025-01-08",
            "prior_auth": "CLAIM-AUTH-1",
            "dx": ["G24.3", "R51.9", "M54.2"],
            "payer_id": "PAYER77",
            "payer_name": "SEVENTY SEVEN PLAN",
            "sbr09": "MB",
            "member_id": "MB1",
            "lines": [
                {
                    "code": "64616",
                    "mods": ["RT", "59"],
                    "charge": "150.00",
                    "units": "2",
                    "ptr": ["1", "3"],
                    "dos": "2025-01-10",
                    "ref6r": "LINE-CTL-1",
                    "prior_auth": "LINE-AUTH-1",
                    "ndc": "00023114501",
                    "ndc_qty": "2.5",
                    "ndc_unit": "ML",
                },
                # no line DTP*472: falls back to the claim's
                {"code": "95874", "charge": "50.00", "units": "1", "ptr": ["2"], "dtp": None, "ref6r": "LINE-CTL-2"},
                # a range at line level
                {"code": "J0585", "charge": "25.50", "units": "100", "dtp": "DTP*472*RD8*20250105-20250107"},
            ],
        },
        {
            # ICD-9 qualifiers, an other-payer loop whose REF*G1 is not the claim's
            "id": "FLD-2",
            "icd9": True,
            "dx": ["3331", "7840"],
            "member_id": "MB2",
            "lines": [{"code": "99213", "charge": "75.00", "ptr": ["2"]}],
        },
        {
            # claim REF*G1 and an other-payer REF*G1: the claim's own wins
            "id": "FLD-3",
            "prior_auth": "CLAIM-AUTH-3",
            "member_id": "MB3",
            "lines": [{"code": "99214", "charge": "110.00", "dtp": None}],
        },
    ]
    segs = transaction_segments(claims)
    segs = insert_before_lx(segs, "FLD-2", OTHER_PAYER)
    segs = insert_before_lx(segs, "FLD-3", OTHER_PAYER)
    # a claim-level range on the third claim
    auth3 = segs.index("REF*G1*CLAIM-AUTH-3")
    segs = fix_se([*segs[:auth3], "DTP*472*RD8*20250101-20250103", *segs[auth3:]])
    text = interchange([segs])
    return text.encode()


def test_claim_fields_2300() -> None:
    data = _fields_file()
    by_id = {c.claim_id: c for c in units(data)}
    assert list(by_id) == ["FLD-1", "FLD-2", "FLD-3"]

    c1 = by_id["FLD-1"]
    assert c1.charge == "225.50"
    assert c1.clm is not None and c1.clm.els[:3] == ["CLM", "FLD-1", "225.50"]
    assert [(d.position, d.qualifier, d.code) for d in c1.diagnoses] == [
        (1, "ABK", "G243"),
        (2, "ABF", "R519"),
        (3, "ABF", "M542"),
    ]
    assert c1.dos == dt.date(2025, 1, 8) and c1.dos_end == dt.date(2025, 1, 8)
    assert c1.prior_auth == "CLAIM-AUTH-1"
    assert c1.clearinghouse_trace == "TRACEFLD-1"
    assert c1.subscriber is not None
    assert c1.payer_id == "PAYER77" and c1.subscriber.payer_name == "SEVENTY SEVEN PLAN"
    assert c1.subscriber.filing_indicator == "MB"
    assert c1.billing_npi == "1234567893"

    c2 = by_id["FLD-2"]
    assert [(d.position, d.qualifier, d.code) for d in c2.diagnoses] == [(1, "BK", "3331"), (2, "BF", "7840")]
    assert c2.prior_auth == ""  # the 2330B REF*G1 belongs to the other payer
    assert c2.subscriber is not None and c2.subscriber.filing_indicator == "CI"
    assert c2.payer_id == "EHP01"  # 2010BB, not the 2330B NM1*PR
    assert c2.subscriber.member_id == "MB2"  # 2010BA, not the 2330A NM1*IL
    assert any(s.els[:2] == ["REF", "G1"] for s in c2.segments)  # the REF is there, kept with the claim

    c3 = by_id["FLD-3"]
    assert c3.prior_auth == "CLAIM-AUTH-3"
    assert c3.dos == dt.date(2025, 1, 1) and c3.dos_end == dt.date(2025, 1, 3)
    assert c3.dos_raw == "20250101-20250103"
    assert c3.line_dos(c3.lines[0]) == dt.date(2025, 1, 1)


def test_line_fields_2400_and_2410() -> None:
    c1 = {c.claim_id: c for c in units(_fields_file())}["FLD-1"]
    first, second, third = c1.lines
    assert (first.lx, first.qualifier, first.code, first.modifiers) == ("1", "HC", "64616", ("RT", "59"))
    assert (first.charge, first.basis, first.units, first.pointers) == ("150.00", "UN", "2", ("1", "3"))
    assert first.dos == dt.date(2025, 1, 10) and first.dtp is not None
    assert c1.line_dos(first) == dt.date(2025, 1, 10)  # its own, not the claim's 2025-01-08
    assert first.line_control == "LINE-CTL-1"
    assert first.prior_auth == "LINE-AUTH-1"
    assert (first.ndc_qualifier, first.ndc) == ("N4", "00023114501")
    assert (first.drug_quantity, first.drug_unit) == ("2.5", "ML")

    assert (second.code, second.modifiers, second.pointers, second.units) == ("95874", (), ("2",), "1")
    assert second.dtp is None and second.dos is None
    assert c1.line_dos(second) == dt.date(2025, 1, 8)  # falls back to the claim DTP*472
    assert second.line_control == "LINE-CTL-2"
    assert second.prior_auth == ""
    assert second.ndc == "" and second.drug_quantity == ""

    assert (third.code, third.charge, third.units) == ("J0585", "25.50", "100")
    assert third.dos == dt.date(2025, 1, 5) and third.dos_end == dt.date(2025, 1, 7)
    assert c1.line_dos(third) == dt.date(2025, 1, 5)
    assert third.line_control == ""


def test_fields_reach_the_report_and_277() -> None:
    result = scrub(_fields_file())
    doc = report(result)
    by_id = {c["claim_id"]: c for c in claims_of(doc)}
    assert by_id["FLD-1"]["payer_id"] == "PAYER77"
    assert by_id["FLD-1"]["charge"] == "225.50"
    assert by_id["FLD-1"]["service_dates"] == ["2025-01-05", "2025-01-08", "2025-01-10"]
    assert by_id["FLD-2"]["payer_id"] == "EHP01"
    assert by_id["FLD-3"]["service_dates"] == ["2025-01-01"]
    ack = result.ack_277().decode("latin-1")
    assert result.summary.rejected == 0, [sc.findings for sc in result.claims]
    for claim_id in ("FLD-1", "FLD-2", "FLD-3"):
        assert f"TRN*2*{claim_id}~" in ack


# -- empty segments ------------------------------------------------------------------------


def test_empty_segment_does_not_stop_reading() -> None:
    text = file_837([spec("E-1"), spec("E-2", member_id="M2"), spec("E-3", member_id="M3")])
    # one between two claims, one inside the first claim (between SV1 and its DTP)
    text = text.replace("~\nHL*3*1*22*0~", "~~\nHL*3*1*22*0~", 1)
    first_sv1 = text.index("SV1*HC:64616:RT:59*150.00*UN*2***2:1~")
    text = text[:first_sv1] + text[first_sv1:].replace("~\nDTP*472*", "~\n~\nDTP*472*", 1)
    assert text.count("~~") == 1 and text.count("~\n~\n") == 1
    data = text.encode()

    result = scrub(data)
    assert ids(result) == ["E-1", "E-2", "E-3"]
    notices = [n for n in result.summary.notices if "empty segment" in n]
    assert len(notices) == 2, result.summary.notices
    assert report(result)["notices"] == result.summary.notices
    first = result.claims[0].claim
    assert first.lines[0].dtp is not None and first.lines[0].dos == dt.date(2025, 1, 10)
    assert all(not sc.rejected for sc in result.claims), [sc.findings for sc in result.claims]
    # the accepted 837 does not carry the empty segments forward, and reads back cleanly
    out = result.accepted_837().decode("latin-1")
    assert "~~" not in out and "~\n~" not in out
    assert scrub(out.encode("latin-1")).summary.notices == []


def test_empty_segment_before_the_first_claim() -> None:
    text = file_837([spec("EH-1"), spec("EH-2", member_id="M2")]).replace("~\nBHT*", "~~\nBHT*", 1)
    result = scrub(text.encode())
    assert ids(result) == ["EH-1", "EH-2"]
    assert result.claims[0].claim.transaction.bht03 == "BATCH0001"
    assert any("empty segment" in n for n in result.summary.notices)


# -- every claim exactly once --------------------------------------------------------------


MANY_LAYOUTS = [
    # sep, comp, rep, term, newline after the terminator
    ("*", ":", "^", "~", "\n"),
    ("|", ">", "^", "\n", ""),
    ("!", "^", "{", "'", ""),
    ("*", ":", "^", "~", "\r\n"),
]


def _many_claims_file(per_st: int = 450) -> tuple[str, int]:
    """Four interchanges with different delimiters, three STs each; returns the text and its CLM count.

    Big enough (over 2 MiB) that segments straddle the tokenizer's 1 MiB read chunks.
    """
    parts = []
    clm_segments = 0
    n = 0
    for ix, (sep, comp, rep, term, newline) in enumerate(MANY_LAYOUTS):
        transactions = []
        for st in range(3):
            claims = []
            for k in range(per_st + 7 * st + ix):
                n += 1
                s = spec(
                    f"C{n:05d}",
                    member_id=f"M{n // 3}",
                    segments=[f"NTE*ADD*{'PADDING TEXT ' * 5}{n}"],
                    lines=[{"code": "99213", "charge": f"{50 + k % 7}.00"} for _ in range(1 + n % 3)],
                )
                if n % 5 == 0:
                    s["dependent"] = {"last": "KID", "first": f"K{n}"}
                if n % 11 == 0:
                    s["charge"] = "1.00"  # rejected
                claims.append(s)
            transactions.append(
                transaction_segments(claims, control=f"{st + 1:04d}", claims_per_billing=17, bht03=f"B{ix}{st}")
            )
        text = interchange(transactions, control=ix + 1, sep=sep, comp=comp, rep=rep, term=term, newline=newline)
        clm_segments += sum(1 for seg in text.split(term) if seg.strip().startswith("CLM" + sep))
        parts.append(text)
    return "".join(parts), clm_segments


def _clm_ids(data: bytes) -> list[str]:
    """CLM01 of every CLM segment, found without the reader (ISA by ISA, with its own delimiters)."""
    text = data.decode("latin-1")
    out = []
    for chunk in re.split(r"(?=ISA.{102}[^\w\s]?)", text):
        if not chunk.startswith("ISA"):
            continue
        sep, term = chunk[3], chunk[105]
        out += [seg.strip().split(sep)[1] for seg in chunk.split(term) if seg.strip().startswith("CLM" + sep)]
    return out


def test_every_claim_counted_exactly_once() -> None:
    text, clm_count = _many_claims_file()
    data = text.encode()
    assert len(data) > 2 << 20
    clm_ids = _clm_ids(data)
    assert len(clm_ids) == clm_count > 2000

    raw = units(data)
    assert [c.claim_id for c in raw] == clm_ids
    assert [c.ordinal for c in raw] == list(range(1, clm_count + 1))

    result = scrub(data)
    got = ids(result)
    assert len(result.claims) == clm_count
    assert len(set(got)) == len(got)
    assert got == clm_ids
    rejected = {i for i in clm_ids if int(i[1:]) % 11 == 0}
    assert {sc.claim.claim_id for sc in result.claims if sc.rejected} == rejected
    # nothing lost at a chunk boundary: every claim is whole
    assert all(sc.claim.lines and sc.claim.diagnoses for sc in result.claims)
    assert [len(sc.claim.lines) for sc in result.claims] == [1 + int(i[1:]) % 3 for i in clm_ids]
    assert result.summary.notices == []
    doc = report(result)
    assert doc["claims_total"] == doc["accepted"] + doc["rejected"] == len(claims_of(doc)) == clm_count
    assert [c["claim_id"] for c in claims_of(doc)] == clm_ids
    ack = result.ack_277().decode("latin-1")
    assert re.findall(r"TRN.2.(C\d{5})\W", ack) == clm_ids
    again = scrub(result.accepted_837())
    assert ids(again) == [i for i in clm_ids if i not in rejected]


def test_every_claim_counted_exactly_once_in_utf16() -> None:
    text, clm_count = _many_claims_file(per_st=210)
    wide = b"\xff\xfe" + text.encode("utf-16-le")
    assert len(wide) > 2 << 20
    got = [c.claim_id for c in units(wide)]
    assert len(got) == clm_count
    assert got == _clm_ids(text.encode())
