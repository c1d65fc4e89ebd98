"""The built-in validator on one piece of a split run (scrubber.piecework): what it counts per
transaction and which of its errors sit in the bytes the piece owns.

Compiled (scrubber._native) with the validator: a Python subclass of the compiled GuideRun reaches
the validator's own methods through generic calls, several a claim.
"""

from __future__ import annotations

from scrubber.guide.validator import GuideError, GuideRun, describe_envelope
from scrubber.model import Segment


class PieceGuide(GuideRun):
    """The validator on a piece: counts per transaction, and which errors sit in bytes the piece owns."""

    def __init__(self, real: tuple[int, int], hl_before: dict[int, int], watch: set[int]) -> None:
        super().__init__(hl_before=hl_before)
        self.real = real
        self.owned = 0
        self.owned_notices: list[str] = []
        self.hl_counts: dict[int, int] = {}
        #: transactions (local ordinals) cut by the piece's ends: their HL ids are compared across pieces
        self.hl_watch = watch
        self.parent_errors = False

    def owns(self, seg: Segment | None) -> bool:
        return seg is None or self.real[0] <= seg.offset < self.real[1]

    def end_transaction(self) -> None:
        """At the reader's end of a transaction (the validator has seen its SE): its HL count."""
        self.hl_counts[self._ordinal] = self._hl_count - self._hl_before.get(self._ordinal, 0)

    def _file_at(self, unit: int, err: GuideError) -> None:
        super()._file_at(unit, err)
        self.owned += self.owns(err.segment)
        if err.reader == "hl_parent" and self._ordinal == 1 and err.segment is not None:
            # A parent the piece cannot see: one pass fails it too unless it is an HL of an earlier
            # piece (one pass keeps those on its stack); then only one pass can judge it.
            parent = _int(err.segment.el(2))
            if parent is not None and parent <= self._hl_before.get(1, 0):
                self.parent_errors = True

    def _envelope_error(self, seg: Segment, err: GuideError) -> None:
        super()._envelope_error(seg, err)
        if self.owns(seg):
            self.owned += 1
            self.owned_notices.append(describe_envelope(err))


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None
