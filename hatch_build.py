"""Build hook: the compiled build of the per-segment and per-claim modules (issue 14).

By default ``pip install .`` (or ``-e .``) compiles the modules listed in scrubber/_native.py with
mypyc when this machine can: a C compiler (``$CC``, else the one Python was built with) and
Python's headers are found; the build then asks for mypy and setuptools. When it cannot, or when
compiling fails (a type error mypyc refuses, a compiler error), it says why in one line on stderr
and builds pure Python, which needs nothing beyond hatchling. ``SCRUBBER_PURE=1`` or
``SCRUBBER_COMPILE=0`` builds pure Python without trying. The sources are installed either way,
so ``SCRUBBER_PURE=1`` can run them at any time.

A wheel gets the extension modules and is tagged for this platform; an editable install gets
them beside the sources, with the hash of each source they came from so that editing a module
makes the package fall back to its sources instead of running stale compiled code.
"""

from __future__ import annotations

import json
import os
import runpy
import shlex
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
RECORD: str = _NATIVE["RECORD"]
#: what compiling needs in the build environment (asked for only when this machine can compile)
REQUIRES = ["mypy>=2.4,<3", "setuptools>=68"]  # the mypy tested (tests/test_native.py)
_EXT = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
_OFF = ("0", "no", "false", "off")

# Run in a child process: setuptools and mypyc stay out of the build backend's process, and a
# failure of either is one exit status. (mypyc's optimisation levels 1, 2 and 3 took the same time
# to build here, about 90 s of CPU, and ran equally fast: its default, 3, is kept.)
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
    """Whether this build tries to compile: yes unless SCRUBBER_PURE=1 or SCRUBBER_COMPILE=0."""
    if os.environ.get("SCRUBBER_PURE", "").strip().lower() not in ("", *_OFF):
        return False
    return os.environ.get("SCRUBBER_COMPILE", "").strip().lower() not in _OFF


def compiler() -> str | None:
    """The C compiler setuptools would run ($CC, else Python's own), when it is there; else None."""
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or ""
    words = shlex.split(cc)
    if not words:  # Windows: no CC; setuptools looks for MSVC itself, asked for with SCRUBBER_COMPILE=1
        return "msvc" if os.environ.get("SCRUBBER_COMPILE", "") == "1" else None
    return shutil.which(words[0])


def cannot_build() -> str:
    """Why this machine cannot compile the modules ("" when it can, as far as can be told beforehand)."""
    if compiler() is None:
        cc = os.environ.get("CC")
        return f"C compiler {cc!r} not found" if cc else "no C compiler found"
    include = sysconfig.get_path("include")
    if os.name != "nt" and not (include and (Path(include) / "Python.h").exists()):
        return "Python headers (Python.h) not found"
    return ""


def compile_modules(out: Path) -> tuple[list[Path], str]:
    """mypyc over MODULES into ``out``: the extension files made (relative to ``out``) and "", or no
    files and why not (said on stderr too)."""
    why = cannot_build()
    if why:
        return _say(why)
    with tempfile.TemporaryDirectory(prefix="scrubber-mypyc-") as tmp:
        cmd = [sys.executable, "-c", _SETUP, str(Path(tmp) / "c"), str(out), str(Path(tmp) / "o"), *MODULES]
        try:
            done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return _say(f"mypyc did not run: {exc}")
    if done.returncode != 0:
        lines = (done.stdout + done.stderr).strip().splitlines()
        errors = [ln for ln in lines if "error" in ln.lower()] or lines
        return _say("mypyc failed: " + (errors[0].strip() if errors else f"exit status {done.returncode}"))
    return sorted(p.relative_to(out) for p in out.rglob(f"*{_EXT}")), ""


def manifest() -> str:
    """Each compiled source's sha256, read back by scrubber._native to notice stale compiled code."""
    return json.dumps({m: _NATIVE["source_hash"](ROOT / m) for m in MODULES}, indent=1, sort_keys=True)


def _say(why: str) -> tuple[list[Path], str]:
    print(f"scrubber: building pure Python, not compiled ({why}); it runs the same, a little slower",
          file=sys.stderr)
    return [], why


def _clear_inplace() -> None:
    """Compiled files an earlier editable build left beside the sources (they would shadow them),
    including those of modules since dropped from MODULES: any extension module with a ``.py`` of
    the same name beside it."""
    (ROOT / "scrubber" / MANIFEST).unlink(missing_ok=True)
    (ROOT / "scrubber" / RECORD).unlink(missing_ok=True)
    for ext in ("*.so", "*.pyd"):
        for old in (ROOT / "scrubber").rglob(ext):
            if old.with_name(old.name.split(".", 1)[0] + ".py").exists():
                old.unlink()
    for old in ROOT.glob("scrubber__mypyc.*"):
        old.unlink()


class NativeBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def dependencies(self) -> list[str]:
        # Only where compiling can work: a machine without a compiler never downloads mypy.
        return list(REQUIRES) if wanted() and not cannot_build() else []

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        if version == "editable":
            _clear_inplace()
        self._out = Path(tempfile.mkdtemp(prefix="scrubber-native-"))
        built, why = compile_modules(self._out) if wanted() else ([], "SCRUBBER_PURE or SCRUBBER_COMPILE=0 at install")
        files = {RECORD: json.dumps({"compiled": bool(built), "why": why})}
        if built:
            files[MANIFEST] = manifest()
        if version == "editable":
            for rel in built:
                shutil.copy2(self._out / rel, ROOT / rel)
            for name, text in files.items():
                (ROOT / "scrubber" / name).write_text(text)
            return
        force = build_data.setdefault("force_include", {})
        for rel in built:
            force[str(self._out / rel)] = str(rel)
        for name, text in files.items():
            (self._out / name).write_text(text)
            force[str(self._out / name)] = f"scrubber/{name}"
        if built:
            build_data["pure_python"] = False
            build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        out = getattr(self, "_out", None)
        if out is not None:
            shutil.rmtree(out, ignore_errors=True)
