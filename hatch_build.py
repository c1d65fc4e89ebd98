"""Build hook: the optional mypyc build of the per-segment and per-claim modules (issue 14).

Opt-in: ``SCRUBBER_COMPILE=1 pip install .`` (or ``-e .``) compiles the modules listed in
scrubber/_native.py; without it, or with ``SCRUBBER_PURE=1``, nothing is compiled and nothing
beyond hatchling is needed. Fail-safe: when compiling fails (no C compiler, no Python headers, a
type error mypyc refuses) the build says why on stderr and goes on as pure Python. The sources
are installed either way, so ``SCRUBBER_PURE=1`` can run them at any time.

A wheel gets the extension modules and is tagged for this platform; an editable install gets
them beside the sources, with the hash of each source they came from so that editing a module
makes the package fall back to its sources instead of running stale compiled code.
"""

from __future__ import annotations

import json
import os
import runpy
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

ROOT = Path(__file__).resolve().parent
_NATIVE = runpy.run_path(str(ROOT / "scrubber" / "_native.py"))
MODULES: tuple[str, ...] = _NATIVE["MODULES"]
MANIFEST: str = _NATIVE["MANIFEST"]
#: what compiling needs in the build environment (asked for only when compiling is on)
REQUIRES = ["mypy>=1.11", "setuptools>=68"]
_EXT = sysconfig.get_config_var("EXT_SUFFIX") or ".so"

# Run in a child process: setuptools and mypyc stay out of the build backend's process, and a
# failure of either is one exit status.
_SETUP = """
import sys
from setuptools import setup
from mypyc.build import mypycify
target, lib, tmp = sys.argv[1:4]
modules = sys.argv[4:]
sys.argv = [sys.argv[0], "build_ext", "--build-lib", lib, "--build-temp", tmp]
setup(name="scrubber-native", packages=[], script_args=sys.argv[1:],
      ext_modules=mypycify(["--ignore-missing-imports", "--follow-imports=silent", *modules],
                           target_dir=target, group_name="scrubber"))
"""


def wanted() -> bool:
    """Whether this build compiles: SCRUBBER_COMPILE=1 and not SCRUBBER_PURE."""
    on = os.environ.get("SCRUBBER_COMPILE", "") not in ("", "0")
    return on and os.environ.get("SCRUBBER_PURE", "") in ("", "0")


def compile_modules(out: Path) -> list[Path] | None:
    """mypyc over MODULES into ``out``; the extension files made (relative to ``out``), or None after
    saying on stderr why not."""
    if shutil.which(sysconfig.get_config_var("CC").split()[0] if sysconfig.get_config_var("CC") else "cc") is None:
        _say("no C compiler found")
        return None
    with tempfile.TemporaryDirectory(prefix="scrubber-mypyc-") as tmp:
        cmd = [sys.executable, "-c", _SETUP, str(Path(tmp) / "c"), str(out), str(Path(tmp) / "o"), *MODULES]
        try:
            done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
        except (OSError, subprocess.TimeoutExpired) as exc:
            _say(f"mypyc did not run ({exc})")
            return None
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
        _say("mypyc failed:\n  " + "\n  ".join(tail))
        return None
    return sorted(p.relative_to(out) for p in out.rglob(f"*{_EXT}"))


def manifest() -> str:
    """Each compiled source's sha256, read back by scrubber._native to notice stale compiled code."""
    return json.dumps({m: _NATIVE["source_hash"](ROOT / m) for m in MODULES}, indent=1, sort_keys=True)


def _say(why: str) -> None:
    print(f"scrubber: building pure Python (compiled modules skipped: {why})", file=sys.stderr)


def _clear_inplace() -> None:
    """Compiled files an earlier editable build left beside the sources (they would shadow them),
    including those of modules since dropped from MODULES: any extension module with a ``.py`` of
    the same name beside it."""
    (ROOT / "scrubber" / MANIFEST).unlink(missing_ok=True)
    for ext in ("*.so", "*.pyd"):
        for old in (ROOT / "scrubber").rglob(ext):
            if old.with_name(old.name.split(".", 1)[0] + ".py").exists():
                old.unlink()
    for old in ROOT.glob("scrubber__mypyc.*"):
        old.unlink()


class NativeBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def dependencies(self) -> list[str]:
        return list(REQUIRES) if wanted() else []

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        if version == "editable":
            _clear_inplace()
        if not wanted():
            return
        self._out = Path(tempfile.mkdtemp(prefix="scrubber-native-"))
        built = compile_modules(self._out)
        if not built:
            return
        if version == "editable":
            for rel in built:
                shutil.copy2(self._out / rel, ROOT / rel)
            (ROOT / "scrubber" / MANIFEST).write_text(manifest())
            return
        (self._out / MANIFEST).write_text(manifest())
        force = build_data.setdefault("force_include", {})
        for rel in built:
            force[str(self._out / rel)] = str(rel)
        force[str(self._out / MANIFEST)] = f"scrubber/{MANIFEST}"
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        out = getattr(self, "_out", None)
        if out is not None:
            shutil.rmtree(out, ignore_errors=True)
