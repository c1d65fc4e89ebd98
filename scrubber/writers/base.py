"""The visitor interface every writer implements (where its bytes end up is scrubber.commit's business)."""

from __future__ import annotations

from mypy_extensions import mypyc_attr

from scrubber.model import Group, Interchange, ScrubbedClaim, Transaction

ENCODING = "latin-1"  # one byte per character: input bytes go back out unchanged


@mypyc_attr(allow_interpreted_subclasses=True)  # subclassed in Python (scrubber._native: split runs)
class Writer:
    """Receives events in input order. Every method is optional."""

    def claim(self, scrubbed: ScrubbedClaim) -> None:
        pass

    def end_transaction(self, txn: Transaction) -> None:
        pass

    def end_group(self, group: Group) -> None:
        pass

    def end_interchange(self, interchange: Interchange) -> None:
        pass

    def finish(self, notices: list[str]) -> None:
        pass
