"""Plain data: envelopes, loops, claim units, lines, diagnoses and findings. No behaviour here.

The classes made once per claim, line or finding (``ClaimUnit``, ``Line``, ``Diagnosis``,
``Finding``, ``ScrubbedClaim``) write their ``__init__`` out (``init=False``), with the signature
``dataclass`` would give them: compiled (scrubber._native), it then runs as native code, where the
one ``dataclass`` generates runs as Python. ``dataclass`` still gives them fields, ``==`` and repr.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields
from typing import Any

from scrubber.x12.segments import Delimiters, Segment


def _rebuilt(obj: Any) -> tuple[Any, ...]:
    """How these objects pickle: made again from their ``__init__`` fields (every field is one).
    Compiled (scrubber._native), a class with required fields pickles only this way."""
    return type(obj), tuple([getattr(obj, f.name) for f in fields(obj) if f.init])


@dataclass(slots=True, eq=False)
class Interchange:
    """ISA ... IEA."""

    index: int
    isa: Segment
    delimiters: Delimiters
    control: str
    sender_qualifier: str
    sender_id: str
    receiver_qualifier: str
    receiver_id: str
    usage: str  # ISA15: P production, T test
    iea: Segment | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuilt(self)


@dataclass(slots=True, eq=False)
class Group:
    """GS ... GE."""

    interchange: Interchange
    gs: Segment
    functional_id: str
    sender: str
    receiver: str
    date: dt.date | None
    control: str
    version: str
    ge: Segment | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuilt(self)


@dataclass(slots=True, eq=False)
class Transaction:
    """ST ... SE of one 837P; ``header`` holds ST, BHT and loops 1000A/1000B as in the file."""

    group: Group
    index: int  # ordinal of the ST in the input file, from 1
    st: Segment
    control: str
    version: str
    header: list[Segment] = field(default_factory=list)
    bht03: str = ""
    bht04: str = ""
    submitter_type: str = "2"
    submitter_name: str = ""
    submitter_first: str = ""
    submitter_id: str = ""
    receiver_name: str = ""
    receiver_id: str = ""
    se: Segment | None = None
    claim_count: int = 0

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuilt(self)


@dataclass(slots=True, eq=False)
class BillingProvider:
    """Loop 2000A with 2010AA/AB/AC."""

    transaction: Transaction
    hl_id: str
    segments: list[Segment]
    entity_type: str = "2"
    name: str = ""
    first: str = ""
    npi: str = ""
    tax_id: str = ""
    problem: str = ""  # why claims beneath cannot be trusted (HL structure)

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuilt(self)


@dataclass(slots=True, eq=False)
class Subscriber:
    """Loop 2000B with 2010BA (subscriber) and 2010BB (payer)."""

    billing: BillingProvider | None
    hl_id: str
    parent_id: str
    segments: list[Segment]
    sequence: str = ""  # SBR01
    relationship: str = ""  # SBR02 (18 = the subscriber is the patient)
    filing_indicator: str = ""  # SBR09 (MB = Medicare Part B)
    member_id: str = ""
    member_qualifier: str = ""
    last: str = ""
    first: str = ""
    middle: str = ""
    suffix: str = ""
    payer_id: str = ""
    payer_name: str = ""
    problem: str = ""

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuilt(self)


@dataclass(slots=True, eq=False)
class Patient:
    """Loop 2000C with 2010CA, present only when the patient is not the subscriber."""

    subscriber: Subscriber | None
    hl_id: str
    parent_id: str
    segments: list[Segment]
    relationship: str = ""
    last: str = ""
    first: str = ""
    middle: str = ""
    suffix: str = ""
    problem: str = ""

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuilt(self)


@dataclass(slots=True, init=False)
class Diagnosis:
    position: int  # 1..12, what SV107 points at
    qualifier: str  # ABK/ABF (ICD-10-CM), BK/BF (ICD-9-CM)
    code: str  # as billed, without the decimal point
    segment: Segment

    def __init__(self, position: int, qualifier: str, code: str, segment: Segment) -> None:
        self.position = position
        self.qualifier = qualifier
        self.code = code
        self.segment = segment

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuilt(self)


@dataclass(slots=True, init=False)
class Line:
    """Loop 2400 (with its 2410 drug identification)."""

    index: int  # order in the claim, from 1
    lx: str
    lx_segment: Segment
    sv1: Segment | None = None
    qualifier: str = ""
    code: str = ""
    modifiers: tuple[str, ...] = ()
    charge: str = ""
    basis: str = ""
    units: str = ""
    place: str = ""
    pointers: tuple[str, ...] = ()
    dos: dt.date | None = None
    dos_end: dt.date | None = None
    dos_raw: str = ""  # DTP03 as written ("" when no line DTP*472)
    dtp: Segment | None = None
    line_control: str = ""  # REF*6R
    prior_auth: str = ""  # REF*G1
    ndc_qualifier: str = ""
    ndc: str = ""
    lin: Segment | None = None
    drug_quantity: str = ""
    drug_unit: str = ""
    ctp: Segment | None = None
    #: ``number``, worked out on first use (-1 before): every finding on the line asks for it
    _number: int = field(default=-1, repr=False, compare=False)

    def __init__(self, index: int, lx: str, lx_segment: Segment, sv1: Segment | None = None, qualifier: str = "",
                 code: str = "", modifiers: tuple[str, ...] = (), charge: str = "", basis: str = "",
                 units: str = "", place: str = "", pointers: tuple[str, ...] = (), dos: dt.date | None = None,
                 dos_end: dt.date | None = None, dos_raw: str = "", dtp: Segment | None = None,
                 line_control: str = "", prior_auth: str = "", ndc_qualifier: str = "", ndc: str = "",
                 lin: Segment | None = None, drug_quantity: str = "", drug_unit: str = "",
                 ctp: Segment | None = None, _number: int = -1) -> None:
        self.index = index
        self.lx = lx
        self.lx_segment = lx_segment
        self.sv1 = sv1
        self.qualifier = qualifier
        self.code = code
        self.modifiers = modifiers
        self.charge = charge
        self.basis = basis
        self.units = units
        self.place = place
        self.pointers = pointers
        self.dos = dos
        self.dos_end = dos_end
        self.dos_raw = dos_raw
        self.dtp = dtp
        self.line_control = line_control
        self.prior_auth = prior_auth
        self.ndc_qualifier = ndc_qualifier
        self.ndc = ndc
        self.lin = lin
        self.drug_quantity = drug_quantity
        self.drug_unit = drug_unit
        self.ctp = ctp
        self._number = _number

    @property
    def number(self) -> int:
        """LX01 as a number, or the position in the claim when LX01 is unreadable."""
        n = self._number
        if n < 0:
            lx = self.lx
            n = self._number = int(lx) if lx.isascii() and lx.isdigit() and len(lx) <= 6 else self.index
        return n

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuilt(self)


@dataclass(slots=True, eq=False, init=False)
class ClaimUnit:
    """One 2300 claim with the context an edit needs and the segments it came from."""

    ordinal: int  # position in the input file, from 1
    transaction: Transaction
    billing: BillingProvider | None
    subscriber: Subscriber | None
    patient: Patient | None
    segments: list[Segment]
    claim_id: str = ""
    charge: str = ""
    place: str = ""
    frequency: str = ""
    clm: Segment | None = None
    dos: dt.date | None = None  # 2300 DTP*472 (first date of a range)
    dos_end: dt.date | None = None
    dos_raw: str = ""
    dos_segment: Segment | None = None
    prior_auth: str = ""  # 2300 REF*G1
    clearinghouse_trace: str = ""  # 2300 REF*D9
    diagnoses: list[Diagnosis] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    #: what made the claim unreadable, with the segment at fault (X12-STRUCTURE)
    problems: list[tuple[str, Segment | None]] = field(default_factory=list)
    #: the claim's NM1 segments (2310x, 2330x, 2420x) with their line (None at claim level)
    names: list[tuple[Segment, Line | None]] = field(default_factory=list)
    _dates: list[dt.date] | None = field(default=None, repr=False, compare=False)

    def __init__(self, ordinal: int, transaction: Transaction, billing: BillingProvider | None,
                 subscriber: Subscriber | None, patient: Patient | None, segments: list[Segment],
                 claim_id: str = "", charge: str = "", place: str = "", frequency: str = "",
                 clm: Segment | None = None, dos: dt.date | None = None, dos_end: dt.date | None = None,
                 dos_raw: str = "", dos_segment: Segment | None = None, prior_auth: str = "",
                 clearinghouse_trace: str = "", diagnoses: list[Diagnosis] | None = None,
                 lines: list[Line] | None = None, problems: list[tuple[str, Segment | None]] | None = None,
                 names: list[tuple[Segment, Line | None]] | None = None,
                 _dates: list[dt.date] | None = None) -> None:
        self.ordinal = ordinal
        self.transaction = transaction
        self.billing = billing
        self.subscriber = subscriber
        self.patient = patient
        self.segments = segments
        self.claim_id = claim_id
        self.charge = charge
        self.place = place
        self.frequency = frequency
        self.clm = clm
        self.dos = dos
        self.dos_end = dos_end
        self.dos_raw = dos_raw
        self.dos_segment = dos_segment
        self.prior_auth = prior_auth
        self.clearinghouse_trace = clearinghouse_trace
        self.diagnoses = [] if diagnoses is None else diagnoses
        self.lines = [] if lines is None else lines
        self.problems = [] if problems is None else problems
        self.names = [] if names is None else names
        self._dates = _dates

    @property
    def delimiters(self) -> Delimiters:
        return self.transaction.group.interchange.delimiters

    @property
    def payer_id(self) -> str:
        return self.subscriber.payer_id if self.subscriber else ""

    @property
    def billing_npi(self) -> str:
        return self.billing.npi if self.billing else ""

    def line_dos(self, line: Line) -> dt.date | None:
        """The line's date of service, falling back to the claim's (edit catalog convention)."""
        return line.dos if line.dtp is not None else self.dos

    def service_dates(self) -> list[dt.date]:
        """The distinct dates of service of the lines (else the claim's), in order; a new list each call."""
        dates = self._dates
        if dates is None:
            dos = self.dos
            seen = {dos if ln.dtp is None else ln.dos for ln in self.lines}
            seen.discard(None)
            if not seen and dos is not None:
                seen.add(dos)
            dates = self._dates = sorted(seen)  # type: ignore[type-var, arg-type]
        return list(dates)

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuilt(self)


@dataclass(slots=True, init=False)
class Finding:
    edit: str
    severity: str  # "reject" | "warn"
    message: str
    line: int | None = None  # LX01
    code: str | None = None
    suggestion: str = ""
    category: str | None = None
    status_code: str | None = None
    segment: str | None = None
    segment_number: int | None = None
    source: str = ""
    line_index: int | None = None  # position of the line in the claim (for writers)
    #: how sure the rule's source makes the finding: "certain", "likely" or "partial-list"
    confidence: str = ""
    #: the entity (an NM101 code: 85, 82, DN...) a status code such as 562 "entity's NPI" is about;
    #: the 277CA names it in STC01-3
    entity: str | None = None

    def __init__(self, edit: str, severity: str, message: str, line: int | None = None, code: str | None = None,
                 suggestion: str = "", category: str | None = None, status_code: str | None = None,
                 segment: str | None = None, segment_number: int | None = None, source: str = "",
                 line_index: int | None = None, confidence: str = "", entity: str | None = None) -> None:
        self.edit = edit
        self.severity = severity
        self.message = message
        self.line = line
        self.code = code
        self.suggestion = suggestion
        self.category = category
        self.status_code = status_code
        self.segment = segment
        self.segment_number = segment_number
        self.source = source
        self.line_index = line_index
        self.confidence = confidence
        self.entity = entity

    @property
    def rejects(self) -> bool:
        return self.severity == "reject"

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuilt(self)


@dataclass(slots=True, init=False)
class ScrubbedClaim:
    claim: ClaimUnit
    findings: list[Finding]

    def __init__(self, claim: ClaimUnit, findings: list[Finding]) -> None:
        self.claim = claim
        self.findings = findings

    @property
    def rejected(self) -> bool:
        for f in self.findings:  # a loop, not any(): every writer asks, and most claims have no finding
            if f.severity == "reject":
                return True
        return False

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuilt(self)


@dataclass(slots=True)
class TransactionEnd:
    transaction: Transaction

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuilt(self)


@dataclass(slots=True)
class GroupEnd:
    group: Group

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuilt(self)


@dataclass(slots=True)
class InterchangeEnd:
    interchange: Interchange

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuilt(self)
