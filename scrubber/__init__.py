"""scrubber: a pre-submission claim scrubber for X12 837P professional claims."""

from __future__ import annotations

__version__ = "0.1.0"

from scrubber import _native

_native.choose()  # before the modules it may load from source instead of compiled code

from scrubber.api import Options, Result, scrub_bytes, scrub_file, scrub_to_dir  # noqa: E402
from scrubber.errors import InputError  # noqa: E402

__all__ = ["InputError", "Options", "Result", "__version__", "scrub_bytes", "scrub_file", "scrub_to_dir"]
