"""Envelope and loop state machine: segments in, claim units and envelope events out.

One pass, constant memory: a claim unit holds only its own segments, and the loops above it
(2000A/B/C) are shared objects that are replaced when the next HL arrives.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO, Final

from scrubber.errors import InputError
from scrubber.model import (
    BillingProvider,
    ClaimUnit,
    Group,
    GroupEnd,
    Interchange,
    InterchangeEnd,
    Patient,
    Subscriber,
    Transaction,
    TransactionEnd,
)
from scrubber.x12.dates import parse_d8
from scrubber.x12.loop2300 import build_claim, unreadable_claim
from scrubber.x12.segments import MAX_SEGMENT, Segment, Tokenizer

#: 837P implementation guide versions read (GS08 / ST03); pyx12 knows only X222A1.
SUPPORTED_VERSIONS = ("005010X222", "005010X222A1", "005010X222A2")

Event = Interchange | Group | Transaction | ClaimUnit | TransactionEnd | GroupEnd | InterchangeEnd
#: segments in one claim or loop, far above any real one (the guide's 50 lines make a few thousand):
#: a unit is held in memory whole, so this bounds memory whatever the input
MAX_UNIT_SEGMENTS = 200_000
#: segments that open or close something inside a transaction; envelope ones there mean a lost SE
_ENVELOPE = frozenset({"ISA", "IEA", "GS", "GE", "ST"})
_IN_TRANSACTION: Final = frozenset({"HL", "CLM", "SE", *_ENVELOPE})
#: file notices kept (a file of a million empty transactions would otherwise make a million)
MAX_NOTICES = 1000


class _Loops:
    """The HL loops open in a transaction: 2000A/B/C, the segments of the current one, the HL01s seen."""

    __slots__ = ("billing", "hl_seen", "patient", "segments", "subscriber")

    def __init__(self) -> None:
        self.billing: BillingProvider | None = None
        self.subscriber: Subscriber | None = None
        self.patient: Patient | None = None
        self.segments: list[Segment] | None = None  # segments of the current HL loop
        self.hl_seen: set[str] = set()


class Reader:
    """Read one input. Iterate ``events()``; ``notices`` collects file-level observations."""

    def __init__(self, stream: BinaryIO, max_segment: int = MAX_SEGMENT) -> None:
        # Any: the guide validator swaps in a tap with the same face (scrubber.guide.attach)
        self.tokenizer: Any = Tokenizer(stream, max_segment)
        self.notices: list[str] = []
        self.transactions = 0
        self.claims = 0
        self._dropped_notices = 0
        self._interchange: Interchange | None = None
        self._group: Group | None = None
        self._interchanges = 0
        self._groups_in_isa = 0
        self._txns_in_gs = 0
        #: byte offset of an HL -> its number in its transaction, for a piece of a transaction read on
        #: its own (scrubber.split): the segments after it are numbered as in the whole file
        self.renumber: dict[int, int] = {}
        self._batched = False

    def _notice(self, text: str) -> None:
        if len(self.notices) < MAX_NOTICES:
            self.notices.append(text)
        else:
            self._dropped_notices += 1

    def events(self) -> Iterator[Event]:
        """Envelopes as they open, claim units, and envelope ends, in input order."""
        tokens = iter(self.tokenizer)
        #: a tokenizer with the validator in it hands over runs of segments as lists (see _unit_batched)
        self._batched = getattr(self.tokenizer, "batches", False)
        for seg in tokens:
            els = seg.els
            if els[0] == "ST":
                txn = self._open_transaction(seg, els)
                yield txn
                yield from self._transaction(tokens, txn)
            else:
                event = self._envelope(seg, els)
                if event is not None:
                    yield event
        self._finish()

    # -- inside a transaction: the hot path ------------------------------------------------------
    def _transaction(self, tokens: Iterator[Segment], txn: Transaction) -> Iterator[Event]:
        """ST ... SE: each claim unit once its last segment is read, then TransactionEnd."""
        loops = _Loops()
        read_unit = self._unit_batched if self._batched else self._unit
        # A transaction is a run of units, each up to the next HL, CLM or SE: the header, HL loops, claims.
        seg, seg_no = read_unit(tokens, txn.header, 1, MAX_UNIT_SEGMENTS, txn)
        for head in txn.header[1:]:
            _read_header_segment(head, txn)
        while seg is not None:
            sid = seg.els[0]
            if sid == "HL" and self.renumber:
                seg_no = seg.number = self.renumber.get(seg.offset, seg_no)
            if sid == "CLM":
                claim = [seg]
                seg, seg_no = read_unit(tokens, claim, seg_no, seg_no + MAX_UNIT_SEGMENTS, txn)
                yield self._claim(claim, txn, loops)
            elif sid == "HL":
                self._hl(seg, txn, loops, seg_no)
                members = loops.segments
                assert members is not None  # the HL's own
                seg, seg_no = read_unit(tokens, members, seg_no, seg_no + MAX_UNIT_SEGMENTS, txn)
                for member in members[1:]:
                    _read_loop_segment(member, loops.billing, loops.subscriber, loops.patient)
            elif sid == "SE":
                self._close_transaction(txn, seg, seg_no)
                yield TransactionEnd(txn)
                return
            else:
                raise InputError(f"{sid} inside transaction {txn.control!r}: its SE is missing",
                                 offset=seg.offset, segment=seg_no)
        raise InputError(f"input ends inside transaction {txn.control!r}: no SE", offset=self.tokenizer.end_offset)

    @staticmethod
    def _unit(tokens: Iterator[Segment], unit: list[Segment], seg_no: int, unit_end: int,
              txn: Transaction) -> tuple[Segment | None, int]:
        """Segments into ``unit``, numbered, up to the next one that opens or closes something:
        returns that one (None at the input's end) and its number. A segment numbered past
        ``unit_end`` means a unit too long to hold."""
        append = unit.append
        for seg in tokens:
            seg_no += 1
            seg.number = seg_no
            if seg_no > unit_end:
                raise InputError(f"more than {MAX_UNIT_SEGMENTS} segments in one claim or loop of transaction "
                                 f"{txn.control!r}", offset=seg.offset, segment=seg_no)
            if seg.els[0] in _IN_TRANSACTION:
                return seg, seg_no
            append(seg)
        return None, seg_no

    @staticmethod
    def _unit_batched(tokens: Iterator[Any], unit: list[Segment], seg_no: int, unit_end: int,
                      txn: Transaction) -> tuple[Segment | None, int]:
        """``_unit`` for a tokenizer that hands over, as a list, segments it knows open or close
        nothing (the validator's: scrubber.guide): they are only numbered."""
        append = unit.append
        for item in tokens:
            if isinstance(item, list):
                if seg_no + len(item) > unit_end:
                    seg = item[unit_end - seg_no]
                    raise InputError(f"more than {MAX_UNIT_SEGMENTS} segments in one claim or loop of transaction "
                                     f"{txn.control!r}", offset=seg.offset, segment=unit_end + 1)
                for seg in item:
                    seg_no += 1
                    seg.number = seg_no
                unit += item
                continue
            seg = item
            seg_no += 1
            seg.number = seg_no
            if seg_no > unit_end:
                raise InputError(f"more than {MAX_UNIT_SEGMENTS} segments in one claim or loop of transaction "
                                 f"{txn.control!r}", offset=seg.offset, segment=seg_no)
            if seg.els[0] in _IN_TRANSACTION:
                return seg, seg_no
            append(seg)
        return None, seg_no

    def _claim(self, segments: list[Segment], txn: Transaction, loops: _Loops) -> ClaimUnit:
        self.claims += 1
        txn.claim_count += 1
        try:
            return build_claim(self.claims, segments, txn, loops.billing, loops.subscriber, loops.patient,
                               txn.group.interchange.delimiters.component)
        except Exception as exc:  # a value no reader rule foresaw: reject this claim, read on
            return unreadable_claim(self.claims, segments, txn, loops.billing, loops.subscriber, loops.patient, exc)

    def _hl(self, seg: Segment, txn: Transaction, loops: _Loops, seg_no: int) -> None:
        """An HL opens a loop: billing provider (20), subscriber (22) or patient (23)."""
        els = seg.els
        hl_id, parent, level = _el(els, 1), _el(els, 2), _el(els, 3)
        loops.segments = [seg]
        problem = ""
        if not hl_id or hl_id in loops.hl_seen:
            problem = f"HL at segment {seg_no} has a missing or repeated HL01"
        loops.hl_seen.add(hl_id)
        if level == "20":
            loops.billing = BillingProvider(txn, hl_id, loops.segments, problem=problem)
            loops.subscriber = loops.patient = None
        elif level == "22":
            billing = loops.billing
            if billing is not None and parent != billing.hl_id and not problem:
                problem = f"HL at segment {seg_no} names parent {parent!r}, not the billing provider HL"
            loops.subscriber = Subscriber(billing, hl_id, parent, loops.segments, problem=problem)
            loops.patient = None
        elif level == "23":
            subscriber = loops.subscriber
            if subscriber is not None and parent != subscriber.hl_id and not problem:
                problem = f"HL at segment {seg_no} names parent {parent!r}, not the subscriber HL"
            if subscriber is None:
                problem = problem or f"patient HL at segment {seg_no} has no subscriber HL above it"
            loops.patient = Patient(subscriber, hl_id, parent, loops.segments, problem=problem)
        else:
            # Claims beneath an unknown level cannot be placed: mark the nearest loop.
            nearest = loops.patient or loops.subscriber or loops.billing
            if nearest is not None:
                nearest.problem = f"HL at segment {seg_no} has level code {level!r} (20, 22 or 23 expected)"

    def _close_transaction(self, txn: Transaction, se: Segment, count: int) -> None:
        txn.se = se
        els = se.els
        if _el(els, 1) != str(count):
            self._notice(f"SE01 of transaction {txn.control!r} says {_el(els, 1)!r} segments, it has {count}")
        if _el(els, 2) != txn.control:
            self._notice(f"SE02 {_el(els, 2)!r} does not match ST02 {txn.control!r}")
        if txn.claim_count == 0:
            self._notice(f"transaction {txn.control!r} holds no claim, so the 277CA has no transaction for it")

    # -- envelopes --------------------------------------------------------------------------------
    def _envelope(self, seg: Segment, els: list[str]) -> Event | None:
        """ISA, GS, GE, IEA (and TA1) outside a transaction; anything else there is an error."""
        sid = els[0]
        if sid == "ISA":
            return self._open_interchange(seg, els)
        if sid == "GS":
            return self._open_group(seg, els)
        if sid == "GE":
            return self._close_group(seg, els)
        if sid == "IEA":
            return self._close_interchange(seg, els)
        if sid == "TA1":
            return None
        raise InputError(f"segment {sid[:3]!r} outside a transaction (ST ... SE)", offset=seg.offset)

    def _open_interchange(self, seg: Segment, els: list[str]) -> Interchange:
        if self._interchange is not None:
            raise InputError("ISA before the IEA of the previous interchange", offset=seg.offset)
        self._interchanges += 1
        delims = self.tokenizer.delimiters
        assert delims is not None
        self._interchange = Interchange(self._interchanges, seg, delims, els[13].strip() if len(els) > 13 else "",
                                        _el(els, 5), _el(els, 6).strip(), _el(els, 7), _el(els, 8).strip(),
                                        _el(els, 15))
        self._groups_in_isa = 0
        return self._interchange

    def _open_group(self, seg: Segment, els: list[str]) -> Group:
        interchange = self._interchange
        if interchange is None or self._group is not None:
            raise InputError("GS outside an interchange or inside another group", offset=seg.offset)
        self._groups_in_isa += 1
        self._txns_in_gs = 0
        version = _el(els, 8)
        if _el(els, 1) != "HC" or version not in SUPPORTED_VERSIONS:
            raise InputError(f"functional group {_el(els, 6)!r} is not 837P claims "
                             f"(GS01={_el(els, 1)!r}, GS08={version!r}; 837P is HC with 005010X222A1)",
                             offset=seg.offset)
        self._group = Group(interchange, seg, "HC", _el(els, 2), _el(els, 3), parse_d8(_el(els, 4)), _el(els, 6),
                            version)
        return self._group

    def _open_transaction(self, seg: Segment, els: list[str]) -> Transaction:
        group = self._group
        if group is None:
            raise InputError("ST outside a functional group", offset=seg.offset)
        if _el(els, 1) != "837":
            raise InputError(f"transaction set {_el(els, 1)!r} is not an 837", offset=seg.offset)
        st03 = _el(els, 3)
        if st03 and st03 not in SUPPORTED_VERSIONS:
            raise InputError(f"transaction {_el(els, 2)!r} has ST03={st03!r}, not an 837P version", offset=seg.offset)
        self._txns_in_gs += 1
        self.transactions += 1
        seg.number = 1
        return Transaction(group, self.transactions, seg, _el(els, 2), st03 or group.version, [seg])

    def _close_group(self, seg: Segment, els: list[str]) -> GroupEnd:
        group = self._group
        if group is None:
            raise InputError("GE without a GS", offset=seg.offset)
        if _el(els, 1) != str(self._txns_in_gs):
            self._notice(f"GE01 says {_el(els, 1)!r} transactions, group {group.control!r} has {self._txns_in_gs}")
        if _el(els, 2) != group.control:
            self._notice(f"GE02 {_el(els, 2)!r} does not match GS06 {group.control!r}")
        group.ge = seg
        self._group = None
        return GroupEnd(group)

    def _close_interchange(self, seg: Segment, els: list[str]) -> InterchangeEnd:
        interchange = self._interchange
        if interchange is None or self._group is not None:
            raise InputError("IEA without an ISA, or before the GE of its group", offset=seg.offset)
        if _el(els, 1) != str(self._groups_in_isa):
            self._notice(f"IEA01 says {_el(els, 1)!r} groups, interchange {interchange.control!r} has "
                         f"{self._groups_in_isa}")
        if _el(els, 2) != interchange.control:
            self._notice(f"IEA02 {_el(els, 2)!r} does not match ISA13 {interchange.control!r}")
        interchange.iea = seg
        self._interchange = None
        return InterchangeEnd(interchange)

    def _finish(self) -> None:
        """The input's end: every envelope closed, something to acknowledge; file notices."""
        end = self.tokenizer.end_offset
        if self._group is not None:
            raise InputError(f"input ends inside functional group {self._group.control!r}: no GE", offset=end)
        if self._interchange is not None:
            raise InputError(f"input ends inside interchange {self._interchange.control!r}: no IEA", offset=end)
        if self._interchanges == 0:
            raise InputError("the input is empty" if end == 0 else "the input holds only blank space or padding")
        if self.transactions == 0:
            raise InputError("no 837P transaction (ST*837) in the input")
        if self.claims == 0:
            # Nothing to acknowledge: a 277CA needs a claim (2000D) in every ST, and a transaction
            # without one breaks the 837P guide (2300 is required), so the input is unusable.
            raise InputError(f"no claim (CLM) in the input's {self.transactions} 837P transaction(s)")
        tok = self.tokenizer
        for off in tok.empty_segments:
            self._notice(f"empty segment skipped at byte {off}")
        if tok.empty_count > len(tok.empty_segments):
            self._notice(f"{tok.empty_count - len(tok.empty_segments)} more empty segments skipped")
        if self._dropped_notices:
            self.notices.append(f"{self._dropped_notices} more notices not listed")


def _el(els: list[str], i: int) -> str:
    return els[i] if i < len(els) else ""


def _read_header_segment(seg: Segment, txn: Transaction) -> None:
    els = seg.els
    sid = els[0]
    if sid == "BHT":
        txn.bht03 = _el(els, 3)
        txn.bht04 = _el(els, 4)
    elif sid == "NM1":
        if _el(els, 1) == "41":
            txn.submitter_type = _el(els, 2) or "2"
            txn.submitter_name = _el(els, 3)
            txn.submitter_first = _el(els, 4)
            txn.submitter_id = _el(els, 9)
        elif _el(els, 1) == "40":
            txn.receiver_name = _el(els, 3)
            txn.receiver_id = _el(els, 9)


#: NM1 padded to NM109 when it stops earlier
_NM1_PAD = [""] * 10


def _read_loop_segment(
    seg: Segment, billing: BillingProvider | None, subscriber: Subscriber | None, patient: Patient | None
) -> None:
    els = seg.els
    sid = els[0]
    if sid == "NM1":
        _read_loop_name(els if len(els) > 9 else (els + _NM1_PAD)[:10], billing, subscriber, patient)
    elif sid == "SBR" and subscriber is not None and patient is None:
        subscriber.sequence = _el(els, 1)
        subscriber.relationship = _el(els, 2)
        subscriber.filing_indicator = _el(els, 9)
    elif sid == "PAT" and patient is not None:
        patient.relationship = _el(els, 1)
    elif sid == "REF" and billing is not None and subscriber is None and _el(els, 1) in ("EI", "SY"):
        billing.tax_id = _el(els, 2)


def _read_loop_name(
    els: list[str], billing: BillingProvider | None, subscriber: Subscriber | None, patient: Patient | None
) -> None:
    """An NM1 of loop 2010AA, 2010BA, 2010BB or 2010CA (``els`` has at least ten elements)."""
    kind = els[1]
    if kind == "85" and billing is not None and subscriber is None:
        billing.entity_type = els[2] or "2"
        billing.name = els[3]
        billing.first = els[4]
        billing.npi = els[9]
    elif kind == "IL" and subscriber is not None and patient is None:
        subscriber.last, subscriber.first = els[3], els[4]
        subscriber.middle, subscriber.suffix = els[5], els[7]
        subscriber.member_qualifier, subscriber.member_id = els[8], els[9]
    elif kind == "PR" and subscriber is not None and patient is None:
        subscriber.payer_name = els[3]
        subscriber.payer_id = els[9]
    elif kind == "QC" and patient is not None:
        patient.last, patient.first = els[3], els[4]
        patient.middle, patient.suffix = els[5], els[7]
