"""An example scrubber plugin: the pack is this folder (pack.yaml and its tables), the payer
registry is ``payers/registry.yaml`` (its policy file sits beside it)."""

from pathlib import Path


def registry() -> Path:
    return Path(__file__).parent / "payers" / "registry.yaml"
