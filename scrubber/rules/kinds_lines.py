"""Generic check kinds over service lines, driven by a pack's tables.

Nothing here knows about a code family: codes, groups, dates, limits and wordings come from the
pack (``codes.csv`` gives each code its role and validity; other tables name the edit they serve in
an ``edit`` column). A new family of codes is a new folder of tables. The kinds live by subject;
importing this module registers them all:

* ``kinds_codes``: ``code_validity`` (a code billed outside its dates, with what to bill instead),
  ``addon_primary`` (an add-on without its primary), ``companion`` (a code that needs another);
* ``kinds_conflicts``: ``code_conflict`` (codes that must not be billed together);
* ``kinds_units``: ``unit_limit`` (units or lines per date), ``bilateral_one_line``;
* ``kinds_modifiers``: ``modifier_rule`` (forbidden, required, contradictory modifiers);
* ``kinds_drugs``: ``drug_units``, ``ndc_format``, ``diagnosis_exclusion``.

``scrubber.rules.tables`` reads the tables for them (conventions there).
"""

from __future__ import annotations

from scrubber.rules import (  # noqa: F401  (importing registers the kinds)
    kinds_codes,
    kinds_conflicts,
    kinds_drugs,
    kinds_modifiers,
    kinds_units,
)
