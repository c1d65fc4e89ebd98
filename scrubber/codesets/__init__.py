"""Diagnosis code sets by date of service: ICD-10-CM by fiscal year, and the final ICD-9-CM set.

The tables ship in ``data/`` with their provenance; ``tools/build_icd10cm.py`` and
``tools/build_icd9cm.py`` regenerate them from the published files.
"""
