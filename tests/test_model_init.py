"""The classes that write their ``__init__`` out (scrubber.model, scrubber.runindex) keep the one ``dataclass``
would generate: same parameters in field order, same defaults, a fresh list per default list, and
pickling (``_rebuilt`` passes every ``__init__`` field by position) gives an equal object."""

from __future__ import annotations

import dataclasses
import inspect
import pickle

import pytest

from scrubber.model import ClaimUnit, Diagnosis, Finding, Line, ScrubbedClaim
from scrubber.runindex import ClaimKeys, LineKey
from scrubber.x12.reader import Reader

WRITTEN_OUT = (ClaimUnit, Line, Diagnosis, Finding, ScrubbedClaim, ClaimKeys, LineKey)


@pytest.mark.parametrize("cls", WRITTEN_OUT, ids=lambda c: c.__name__)
def test_init_has_the_dataclass_signature(cls: type) -> None:
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    fields = [f for f in dataclasses.fields(cls) if f.init]
    assert [p.name for p in params] == [f.name for f in fields]
    for p, f in zip(params, fields, strict=True):
        if f.default is not dataclasses.MISSING:
            assert p.default == f.default, f.name
        elif f.default_factory is not dataclasses.MISSING:
            assert p.default is None, f.name  # None stands for "a new one", made in __init__
        else:
            assert p.default is inspect.Parameter.empty, f.name


@pytest.mark.parametrize("cls", WRITTEN_OUT, ids=lambda c: c.__name__)
def test_defaults_are_set_and_lists_not_shared(cls: type) -> None:
    required = [f for f in dataclasses.fields(cls) if f.init and f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING]
    args = [object() for _ in required]
    a, b = cls(*args), cls(*args)
    for f in dataclasses.fields(cls):
        value = getattr(a, f.name)  # every slot is set
        if f.default is not dataclasses.MISSING:
            assert value == f.default
        elif f.default_factory is not dataclasses.MISSING:
            assert value == f.default_factory()
            assert value is not getattr(b, f.name), f.name


def test_claims_read_pickle_equal(tmp_path) -> None:
    sample = b"".join([
        b"ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *250101*1200*^*00501*000000001*0*T*:~",
        b"GS*HC*SENDER*RECEIVER*20250101*1200*1*X*005010X222A1~ST*837*0001*005010X222A1~",
        b"BHT*0019*00*1*20250101*1200*CH~NM1*41*2*SUB*****46*1~PER*IC*X*TE*5555555555~NM1*40*2*RCV*****46*2~",
        b"HL*1**20*1~NM1*85*2*BILL*****XX*1234567893~N3*1 MAIN~N4*CITY*NY*10001~REF*EI*123456789~",
        b"HL*2*1*22*0~SBR*P*18*******CI~NM1*IL*1*DOE*JOHN****MI*M1~NM1*PR*2*PAYER*****PI*P1~",
        b"CLM*C1*100***11:B:1*Y*A*Y*Y~DTP*472*D8*20250102~HI*ABK:J020~",
        b"LX*1~SV1*HC:99213:25*100*UN*1***1~DTP*472*D8*20250102~SE*20*0001~GE*1*1~IEA*1*000000001~",
    ])
    path = tmp_path / "one.x12"
    path.write_bytes(sample)
    with path.open("rb") as fh:
        claims = [ev for ev in Reader(fh).events() if isinstance(ev, ClaimUnit)]
    assert len(claims) == 1
    claim = claims[0]
    assert claim.lines[0].modifiers == ("25",) and claim.diagnoses[0].code == "J020"
    again = pickle.loads(pickle.dumps(claim))
    # (segments compare by identity: compare what was read from them)
    def line(ln: Line) -> tuple:
        return ln.index, ln.code, ln.modifiers, ln.pointers, ln.units, ln.charge, ln.dos, ln.number

    def dx(d: Diagnosis) -> tuple:
        return d.position, d.qualifier, d.code

    assert [line(ln) for ln in again.lines] == [line(ln) for ln in claim.lines]
    assert [dx(d) for d in again.diagnoses] == [dx(d) for d in claim.diagnoses]
    assert (again.claim_id, again.charge, again.dos, again.ordinal) == (claim.claim_id, claim.charge, claim.dos,
                                                                      claim.ordinal)
    f = Finding("E1", "reject", "m", 1, "99213", "s", "A7", "21", "SV1*X", 9, "src", 1, "certain", "85")
    assert pickle.loads(pickle.dumps(f)) == f
    assert pickle.loads(pickle.dumps(ScrubbedClaim(claim, [f]))).findings == [f]
