"""The shape of a claim: what a check kind with ``bounds`` may read, and so what the engine remembers.

Most claims of a file look alike to the edits: the same codes, modifiers, pointers, diagnoses and
payer, on other patients and other days. A check kind that registers ``bounds`` (see
``scrubber.rules.kinds.kind``) promises that whether it finds anything depends only on this shape;
the engine keeps, per shape, which of those checks found something, and on the next claim of the
same shape runs only those (to word their findings for this claim) and the kinds without bounds.

The shape holds, and a kind with bounds may read only:

* the payer: 2010BB payer id and SBR09 (so the registry's payer, Medicare or not, its policies);
* CLM05-1 place and CLM05-3 frequency, whether the claim has a REF*G1, whether it has a DTP*472
  and whether that date reads;
* the diagnoses: qualifier and code, in order;
* per line, in order: qualifier, code, modifiers, SV105 place, SV107 pointers, its date of service
  (below), whether it has its own DTP*472, whether it has a REF*G1, and for a 2410 drug line
  whether its NDC is 11 digits with qualifier N4 and whether its CTP quantity is positive;
* per line, its units: as written when its code is one whose units some kind compares as numbers
  (the kinds' ``units`` declarations) or when they are not a plain positive whole number; else
  only that they are one;
* the dates: which lines share a date and how the dates are ordered (each date's rank among the
  claim's dates), and where each date falls among the kind's ``bounds`` (its epoch).

Not in it, so not for kinds with bounds: other units, charges, names, ids and NPIs, line numbers (LX01)
as values, exact dates (other than through ``bounds``), the transaction's dates, today. A kind
reads those freely in a finding's wording, since a check that found something runs again on every
claim; only "found nothing" is remembered.

The engine counts every bound ``b`` as ``b`` and the day after, so a kind may compare with a bound
by ``<``, ``<=``, ``>`` or ``>=``.

A kind registered with ``judged`` (``scrubber.rules.kinds``) says what it found apart from its
findings' words; its verdict obeys the same promise, so the engine keeps it too and, on the next
claim with the same facets, only words it for that claim.

The shape is kept as facets (``FACETS``): the lines' codes with their dates, the epochs, the payer,
the claim's own fields, the diagnoses, and per line its modifiers, pointers, units, drug, place and
prior authorization. A kind that declares ``reads`` (some of those names) promises to read only
those facets besides codes and dates; when a claim's whole shape is new (a file whose claims all
differ in small ways: one a pointer, the next a modifier), the engine still remembers such a
kind's verdict by the facets it reads, in one memory for all the kinds that read the same facets.
A kind without ``reads`` reads the whole shape.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections.abc import Iterable, Sequence

from scrubber.model import ClaimUnit, Line
from scrubber.x12.loop2300 import is_amount, positive_whole

Shape = tuple  # nested tuples of str, int, bool and None: hashable, compared by value

_DAY = dt.timedelta(days=1)


def epoch_bounds(dates: Iterable[dt.date]) -> tuple[dt.date, ...]:
    """Sorted bounds with the day after each, so that every comparison with a bound is decided by epoch."""
    out: set[dt.date] = set()
    for day in dates:
        out.add(day)
        if day < dt.date.max:
            out.add(day + _DAY)
    return tuple(sorted(out))


def _drug(ln: Line) -> tuple[bool, bool] | None:
    if ln.lin is None:
        return None
    ndc, qty = ln.ndc, ln.drug_quantity
    return (ln.ndc_qualifier == "N4" and len(ndc) == 11 and ndc.isdigit(),
            is_amount(qty) and float(qty) > 0)


#: the units of a line that are a plain positive whole number and whose value no kind compares
WHOLE = "+"


def _units(ln: Line, exact: frozenset[str]) -> str:
    units = ln.units
    return WHOLE if ln.code not in exact and positive_whole(units) else units


#: the facets of a shape, in order: every kind reads the first two (codes and dates); a kind's
#: ``reads`` (scrubber.rules.kinds.kind) names the others it reads, by these names
FACETS = ("codes", "epochs", "payer", "claim", "dx", "mods", "pointers", "units", "drug", "places", "auth")
ALWAYS_READ = (0, 1)


def claim_shape(claim: ClaimUnit, bounds: Sequence[dt.date], exact: frozenset[str] = frozenset()) -> Shape:
    """The claim's shape (see the module docstring) as a tuple of ``FACETS``; ``bounds`` as
    ``epoch_bounds`` gives them, ``exact`` the codes whose units are compared as numbers."""
    cdos = claim.dos
    lines = claim.lines
    line_days = [cdos if ln.dtp is None else ln.dos for ln in lines]
    days = set(line_days)
    days.add(cdos)
    days.discard(None)
    order = sorted(days)  # type: ignore[type-var]
    rank = {day: i for i, day in enumerate(order)}
    sub = claim.subscriber
    # One pass over the lines, a row per line, turned into a column per facet by zip.
    # (_units inline: this is the per-line loop of every claim)
    rows = [((ln.qualifier, ln.code, rank.get(day, -1), ln.dtp is not None), ln.modifiers, ln.pointers,
             WHOLE if ln.code not in exact and positive_whole(ln.units) else ln.units,
             None if ln.lin is None else _drug(ln), ln.place, ln.prior_auth != "")
            for ln, day in zip(lines, line_days, strict=True)]
    per_line = zip(*rows, strict=True) if rows else _NO_LINES
    codes, mods, pointers, units, drug, places, auth = per_line
    return (
        codes,
        tuple([bisect_right(bounds, day) for day in order]),  # type: ignore[type-var]
        (sub.payer_id, sub.filing_indicator) if sub is not None else None,
        (claim.place, claim.frequency, claim.prior_auth != "", claim.dos_segment is not None, rank.get(cdos, -1)),
        tuple([(d.qualifier, d.code) for d in claim.diagnoses]),
        mods, pointers, units, drug, places, auth,
    )


_NO_LINES = ((),) * 7
