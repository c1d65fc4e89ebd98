"""scrubber: a pre-submission claim scrubber for X12 837P professional claims."""

from __future__ import annotations

__version__ = "0.1.0"

from scrubber.api import Options, Result, scrub_bytes, scrub_file, scrub_to_dir
from scrubber.errors import InputError

__all__ = ["InputError", "Options", "Result", "__version__", "scrub_bytes", "scrub_file", "scrub_to_dir"]
