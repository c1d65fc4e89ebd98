"""Large transactions validated by pyx12 in pieces of claims, in several processes, with the verdicts
pyx12 gives on the whole interchange.

pyx12 manages a few hundred claims a second, one transaction at a time. Here the parent cuts the
input at loop boundaries (a 2000A or 2000B HL) into pieces of a few hundred claims, each a small
interchange of its own: the real ISA and GS, the transaction's ST and header (BHT, 1000A, 1000B)
and, when cut inside a billing provider, that 2000A loop's own segments, copied; then the piece's
own claims; a trailer whose SE01 counts the piece. Workers validate the pieces, and the parent
maps every error back to its segment number in the original transaction.

What a piece cannot see is checked here, the way pyx12's reader checks it: the SE01 count and
the HL numbering (HL01 in sequence, HL02 naming an open parent) run over the whole transaction.
Anything else that could read differently in a piece makes the whole interchange go to pyx12 in
one piece, as without pieces: an error in the envelope, the header or a copied 2000A loop, an
error where a copy ends, a count or control number that does not match, a piece pyx12 fails on.
The outcome equals pyx12's on each interchange (tests/test_validate_pieces.py compares them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scrubber.ig_tree import Group, IgError, Ix, Seg, Txn, count, place, txn_errors, write_999

#: header or 2000A segments copied into each piece at most; more is unusual: no cuts then
MAX_COPY = 200


def _value(els: list[str], i: int) -> str | None:
    return els[i] if i < len(els) else None


def _int(text: str | None) -> int | None:
    try:
        return int(text)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return None


def _plain_count(text: str | None) -> bool:
    """A count pyx12 reads as a valid N0 whatever its value, so it can be replaced by another."""
    return text is not None and text.isascii() and text.isdigit() and str(int(text)) == text and len(text) <= 6


@dataclass(slots=True)
class TxnState:
    """A transaction of the input: the merged tree node and what the parent counted."""

    index: int  # the reader's global ST ordinal
    node: Txn
    closed: bool = False


@dataclass(slots=True)
class GroupState:
    node: Group
    gs_text: str
    ge01: int | None = None
    closed: bool = False
    st_ids: set[str] = field(default_factory=set)


@dataclass(slots=True)
class IxState:
    """An interchange of the input: its groups, the pieces still out, and whether to redo it whole."""

    ordinal: int
    txn_base: int
    isa_text: str
    delims: tuple[str, str, str]  # segment terminator, element and component separators
    end: str = ""  # what follows each segment: the terminator, and a newline unless it is one
    groups: list[GroupState] = field(default_factory=list)
    txns: list[TxnState] = field(default_factory=list)
    out: int = 0  # pieces submitted and not yet merged
    ended: bool = False
    whole: str = ""  # why pieces cannot stand for it: validated whole instead


@dataclass(slots=True)
class Portion:
    """One transaction's share of a piece: which of its segment numbers are copies and which its own."""

    txn: TxnState
    copies: int  # segment numbers 1..copies in the piece are copies (ST, header, 2000A loop)
    own_start: int  # the transaction's number of the first own segment
    first: bool  # the piece holds the real ST (no copies)
    own: int = 0
    claims: int = 0
    se_line: int = 0  # line of a trailer made here (the transaction goes on in the next piece)
    se_to: int = 0  # the number of the segment after the cut: what pyx12 names when it notes a gap there
    #: own segments that the next piece copies (header, 2000A loop): an error on one makes the copies
    #: read differently, and so does one pyx12 notices at the 2000A's first 2000B (``watch``)
    sensitive: set[int] = field(default_factory=set)
    watch: int = 0
    starts: set[int] = field(default_factory=set)  # CLM, HL and SE numbers
    skip: set[int] = field(default_factory=set)  # PWK*CT numbers
    hl_errors: dict[int, list[tuple[str, str]]] = field(default_factory=dict)

    @property
    def local(self) -> int:
        return self.copies + self.own


@dataclass(slots=True)
class Piece:
    ix: IxState
    parts: list[str] = field(default_factory=list)
    portions: list[Portion] = field(default_factory=list)
    groups: int = 0  # GS (real or copied) in the piece
    group_sts: int = 0  # ST in the piece's current group
    claims: int = 0
    end: int = 0  # input offset reached

    def add(self, body: str) -> None:
        self.parts.append(body + self.ix.end)


class Cutter:
    """Turns the input's segments into pieces (``feed`` returns the pieces completed)."""

    def __init__(self, claims_per_piece: int) -> None:
        self.per_piece = max(1, claims_per_piece)
        self.ix: IxState | None = None
        self.group: GroupState | None = None
        self.txn: TxnState | None = None
        self.piece: Piece | None = None
        self.txns = 0  # transactions so far (global ordinal)
        self.ordinal = 0
        self._reset_txn()

    def _reset_txn(self) -> None:
        self.number = 0
        self.st_text = ""
        self.st02 = ""
        self.header: list[str] = []  # between the ST and the first HL
        self.in_header = False
        self.header_ok = True
        self.context: list[str] = []  # the current 2000A loop up to its first 2000B
        self.context_at = (0, 0)  # its first number and that of its first 2000B
        self.collecting = False
        self.hl22_seen = False
        self.context_ok = False
        self.hl_count = 0
        self.hl_stack: list[int] = []

    # -- the stream -------------------------------------------------------------------------------

    def feed(self, els: list[str], text: str, offset: int, delims: tuple[str, str, str]) -> list[Piece]:
        sid = els[0]
        done: list[Piece] = []
        if sid == "ISA":
            if self.piece is not None:
                self._suspect("an ISA before the IEA of the interchange before it")
                done.append(self._close())
            self._open_ix(text, delims)
        elif self.ix is None or self.piece is None:
            return done  # the tokenizer raises before this: nothing outside an interchange
        elif sid == "GS":
            self._gs(els, text, done)
        elif sid == "ST":
            self._st(els, text, done)
        elif sid == "SE":
            self._se(els, text)
        elif sid == "GE":
            self._ge(els, text)
        elif sid == "IEA":
            self._iea(els, text)
            done.append(self._close())
        else:
            self._body(els, text, done)
        if self.piece is not None:
            self.piece.end = offset
        return done

    def finish(self) -> list[Piece]:
        if self.piece is None:
            return []
        self._suspect("the input ends inside an interchange")
        return [self._close()]

    def _suspect(self, why: str) -> None:
        if self.ix is not None and not self.ix.whole:
            self.ix.whole = why

    def _open_ix(self, text: str, delims: tuple[str, str, str]) -> None:
        self.ordinal += 1
        term = delims[0]
        self.ix = IxState(self.ordinal, self.txns, text, delims, term + ("\n" if term not in "\r\n" else ""))
        self.piece = Piece(self.ix)
        self.piece.add(text)
        self.group = self.txn = None

    def _gs(self, els: list[str], text: str, done: list[Piece]) -> None:
        assert self.ix is not None and self.piece is not None
        if self.txn is not None or (self.group is not None and not self.group.closed):
            self._suspect("a GS inside a group")
        elif self.piece.claims >= self.per_piece:
            self._cut(done, "")
        gs06 = _value(els, 6) or ""
        if any(g.node.gs_control_num == gs06 for g in self.ix.groups):
            self._suspect("a GS06 repeated")
        node = Group(_value(els, 1), gs06, _value(els, 8), None, 0, 0)
        self.group = GroupState(node, text)
        self.ix.groups.append(self.group)
        self.piece.add(text)
        self.piece.groups += 1
        self.piece.group_sts = 0

    def _st(self, els: list[str], text: str, done: list[Piece]) -> None:
        assert self.ix is not None and self.piece is not None
        if self.group is None or self.group.closed or self.txn is not None:
            self._suspect("an ST outside a group or inside another ST")
        elif self.piece.claims >= self.per_piece:
            self._cut(done, "")
        self._reset_txn()
        self.txns += 1
        st02 = _value(els, 2) or ""
        if self.group is not None:
            if st02 in self.group.st_ids:
                self._suspect("an ST02 repeated in its group")
            self.group.st_ids.add(st02)
            self.group.node.st_count_recv += 1
            node = Txn(_value(els, 1), st02, _value(els, 3), "R")
            self.txn = TxnState(self.txns, node)
            self.group.node.children.append(node)
            self.ix.txns.append(self.txn)
        self.number, self.st_text, self.st02 = 1, text, st02
        self.header, self.in_header = [], True
        self.piece.add(text)
        self.piece.group_sts += 1
        if self.txn is not None:
            self.piece.portions.append(Portion(self.txn, 0, 1, True, own=1))

    def _body(self, els: list[str], text: str, done: list[Piece]) -> None:
        assert self.piece is not None
        if self.txn is None:
            self._suspect(f"a {els[0][:3]!r} segment outside a transaction")
            self.piece.add(text)
            return
        sid = els[0]
        self.number += 1
        if sid == "HL":
            level = _value(els, 3)
            if self._may_cut(level):
                self._cut(done, level or "")
            self._hl(els, level, text)
        elif self.in_header:
            self.header.append(text)
            self.header_ok = self.header_ok and len(self.header) <= MAX_COPY
        elif self.collecting:
            self.context.append(text)
            self.context_ok = self.context_ok and len(self.context) <= MAX_COPY
        portion = self.piece.portions[-1]
        portion.own += 1
        if sid == "CLM":
            portion.claims += 1
            self.piece.claims += 1
            portion.starts.add(self.number)
        elif sid == "PWK" and _value(els, 1) == "CT":
            portion.skip.add(self.number)
        self.piece.add(text)

    def _may_cut(self, level: str | None) -> bool:
        assert self.piece is not None
        portion = self.piece.portions[-1]
        if self.piece.claims < self.per_piece or not portion.claims or not self.header_ok or self.in_header:
            return False
        if level == "20":
            return True
        return level == "22" and self.hl22_seen and self.context_ok and not self.collecting

    def _hl(self, els: list[str], level: str | None, text: str) -> None:
        """pyx12's reader's HL checks, over the whole transaction; the 2000A loop kept for copies."""
        assert self.piece is not None
        self.in_header = False
        portion = self.piece.portions[-1]
        portion.starts.add(self.number)
        errors = []
        self.hl_count += 1
        hl01 = _value(els, 1)
        if self.hl_count != _int(hl01):
            errors.append(("HL1", f"My HL count {self.hl_count:d} does not match your HL count {hl01}"))
        hl02 = _value(els, 2)
        if hl02 != "":
            parent = _int(hl02)
            if parent not in self.hl_stack:
                errors.append(("HL2", f"HL parent ({parent}) is not a valid parent"))
            while self.hl_stack and parent != self.hl_stack[-1]:
                self.hl_stack.pop()
        self.hl_stack.append(self.hl_count)
        if errors:
            portion.hl_errors[self.number] = errors
        if level == "20":
            self.context, self.collecting, self.hl22_seen, self.context_ok = [text], True, False, True
            self.context_at = (self.number, 0)
        else:
            if level == "22" and self.collecting:
                self.hl22_seen = True
                self.context_at = (self.context_at[0], self.number)
            self.collecting = False

    def _se(self, els: list[str], text: str) -> None:
        assert self.piece is not None
        if self.txn is None:
            self._suspect("an SE outside a transaction")
            self.piece.add(text)
            return
        self.number += 1
        portion = self.piece.portions[-1]
        portion.own += 1
        portion.starts.add(self.number)
        se01 = _value(els, 1)
        if _int(se01) != self.number:
            self.txn.node.errors.append(
                ("4", f"SE count of {se01} for SE02={_value(els, 2)} is wrong. I count {self.number}"))
        if not _plain_count(se01):
            self._suspect("an SE01 that is not a plain count")
        elif se01 != str(portion.local):
            sep = self.ix.delims[1] if self.ix else "*"
            text = text.replace(f"SE{sep}{se01}", f"SE{sep}{portion.local}", 1)
        self.txn.closed = True
        self.txn.node.ack_code = "A"  # settled when the interchange is complete
        self.piece.add(text)
        self.txn = None

    def _ge(self, els: list[str], text: str) -> None:
        assert self.piece is not None
        if self.group is None or self.txn is not None or self.group.closed:
            self._suspect("a GE outside a group or before an SE")
            self.piece.add(text)
            return
        ge01 = _value(els, 1)
        self.group.ge01 = _int(ge01)
        self.group.closed = True
        if self.group.ge01 != self.group.node.st_count_recv or not _plain_count(ge01):
            self._suspect("a GE01 that does not count the group")
        else:
            text = self._recount(text, "GE", ge01, self.piece.group_sts)
        self.piece.add(text)

    def _iea(self, els: list[str], text: str) -> None:
        assert self.ix is not None and self.piece is not None
        iea01 = _value(els, 1)
        if self.txn is not None or (self.group is not None and not self.group.closed):
            self._suspect("an IEA before the end of its group")
        elif _int(iea01) != len(self.ix.groups) or not _plain_count(iea01):
            self._suspect("an IEA01 that does not count the groups")
        else:
            text = self._recount(text, "IEA", iea01, self.piece.groups)
        self.ix.ended = True
        self.piece.add(text)

    def _recount(self, text: str, sid: str, old: str | None, new: int) -> str:
        sep = self.ix.delims[1] if self.ix else "*"
        return text.replace(f"{sid}{sep}{old}", f"{sid}{sep}{new}", 1)

    # -- pieces -----------------------------------------------------------------------------------

    def _close(self) -> Piece:
        assert self.piece is not None
        piece, self.piece = self.piece, None
        piece.ix.out += 1
        return piece

    def _cut(self, done: list[Piece], level: str) -> None:
        """End the piece here (trailers made up as needed) and start the next with copies."""
        assert self.ix is not None and self.piece is not None
        sep = self.ix.delims[1]
        old = self.piece
        if level:  # inside a transaction: a trailer for its share, then the copies again
            portion = old.portions[-1]
            portion.se_line = self._lines(old) + 1
            portion.se_to = self.number
            if portion.first:
                portion.sensitive.update(range(2, 2 + len(self.header)))
            start, first_b = self.context_at
            if level == "22" and start >= portion.own_start:
                portion.sensitive.update(range(start, first_b))
                portion.watch = first_b
            old.add(f"SE{sep}{portion.local + 1}{sep}{self.st02}")
        if self.group is not None and not self.group.closed:
            old.add(f"GE{sep}{old.group_sts}{sep}{self.group.node.gs_control_num}")
        old.add(f"IEA{sep}{old.groups}{sep}{self._isa13()}")
        done.append(self._close())
        new = self.piece = Piece(self.ix)
        new.add(self.ix.isa_text)
        if self.group is not None and not self.group.closed:
            new.add(self.group.gs_text)
            new.groups = 1
        if level and self.txn is not None:
            copies = [self.st_text, *self.header, *(self.context if level == "22" else [])]
            for text in copies:
                new.add(text)
            new.group_sts = 1
            new.portions.append(Portion(self.txn, len(copies), self.number, False))

    def _isa13(self) -> str:
        assert self.ix is not None
        return _value(self.ix.isa_text.split(self.ix.delims[1]), 13) or ""

    @staticmethod
    def _lines(piece: Piece) -> int:
        return len(piece.parts)


# -- merging the pieces' errors ---------------------------------------------------------------------

Result = tuple[dict[int, list[IgError]], list[str], str, int]


def merge(piece: Piece, tree: list[Ix] | None) -> None:
    """Fold a piece's errors (``tree``; None when pyx12 failed) into its interchange, renumbered."""
    ix = piece.ix
    ix.out -= 1
    if not ix.whole:
        ix.whole = _merge(piece, tree)


def _merge(piece: Piece, tree: list[Ix] | None) -> str:
    if tree is None:
        return "pyx12 failed on a piece"
    if len(tree) != 1 or tree[0].errors or tree[0].elements:
        return "an interchange error in a piece"
    txns: list[Txn] = []
    for group in tree[0].children:
        if group.errors or group.elements:
            return "a group error in a piece"
        txns += group.children
    if len(txns) != len(piece.portions):
        return "a piece read as another number of transactions"
    for portion, txn in zip(piece.portions, txns, strict=True):
        if txn.errors or txn.elements:
            return "a transaction error in a piece"
        nodes: list[Seg] = []
        for node in txn.children:
            why = _renumber(node, portion)
            if why:
                return why
            if node.errors or node.elements:
                nodes.append(node)
        _add_hl_errors(nodes, portion.hl_errors)
        portion.txn.node.children += nodes
    return ""


def _renumber(node: Seg, portion: Portion) -> str:
    """The node's number in the whole transaction, or why it has none there."""
    node.errors = [e for e in node.errors if e[0] not in ("HL1", "HL2")]  # counted over the whole here
    if not node.errors and not node.elements:
        return ""  # a copy's HL numbers, or the piece's own count: nothing else was wrong there
    if portion.se_line and node.line == portion.se_line:
        # Noticed at the trailer made up for the cut: in the whole file pyx12 notices it at the next
        # segment (the HL the piece was cut at), and names that segment's number.
        if node.seg_id in ("SE", "HL"):
            return "an error at a trailer made for a piece"
        node.seg_count, node.line = portion.se_to, -1
        place(node, True, False)
        return ""
    local = node.seg_count
    if not portion.first and local <= portion.copies:
        return "an error in a copied segment"
    if not portion.first and local == portion.copies + 1 and node.seg_id != "HL":
        return "an error noticed where the copies end"
    if not 1 <= local <= portion.local:
        return "an error outside the piece's share of the transaction"
    number = portion.own_start + local - portion.copies - 1
    if number in portion.sensitive or (number == portion.watch and node.seg_id != "HL"):
        return "an error in a segment copied into the next piece"
    node.seg_count = number
    place(node, number in portion.starts, number in portion.skip)
    return ""


def _add_hl_errors(nodes: list[Seg], hl_errors: dict[int, list[tuple[str, str]]]) -> None:
    """The HL checks made over the whole transaction, on their HL's node as pyx12 puts them: first."""
    for number, errors in hl_errors.items():
        found = [(code, text, None) for code, text in errors]
        node = next((n for n in nodes if n.seg_id == "HL" and n.seg_count == number and n.line != -1), None)
        if node is not None:
            node.errors[0:0] = found
            continue
        at = 0
        while at < len(nodes) and nodes[at].seg_count <= number:
            at += 1
        nodes.insert(at, Seg("HL", number, None, 0, found, [], number))


def complete(ix: IxState) -> Result | None:
    """The interchange's result, as pyx12 over the whole of it gives it; None: validate it whole."""
    import pyx12.segment

    if ix.whole or ix.out or not ix.ended:
        return None
    term, sep, comp = ix.delims
    isa = pyx12.segment.Segment(ix.isa_text, term, sep, comp)
    node = Ix(isa.get_value("ISA13"), isa.get_value("ISA14"), isa.get_value("ISA09"), isa.get_value("ISA10"), isa)
    for state in ix.groups:
        group = state.node
        group.seg_data = pyx12.segment.Segment(state.gs_text, term, sep, comp)
        for txn in group.children:
            txn.ack_code = "A" if txn.ack_code == "A" and not txn.err_count() else "R"
        if state.closed:
            group.st_count_orig = state.ge01 or 0
            group.ack_code = "R" if group.errors or any(c.get_error_count() for c in group.children) else "A"
        node.children.append(group)
    by_transaction = {t.index: txn_errors(t.node) for t in ix.txns}
    errors = count(node, list(by_transaction.values()))
    return by_transaction, [], write_999(node) if errors else "", errors


def piece_tree(text: str) -> list[Ix] | None:
    """pyx12 over one piece (in a worker): its error tree, or None if pyx12 failed on it."""
    from scrubber.pool import interruptible, stopping
    from scrubber.pyx12_run import run_pyx12

    if stopping():
        return None  # Ctrl-C: the run is ending, the pieces still queued are not validated
    try:
        with interruptible():
            return run_pyx12(text, set(), set())[0]
    except Exception:
        return None
