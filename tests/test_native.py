"""The optional compiled build (hatch_build.py, scrubber/_native.py): same outputs, pure fallback.

The compiled build is opt-in (SCRUBBER_COMPILE=1 pip install ...). Where it is installed, the
same inputs go through the compiled modules and, with SCRUBBER_PURE=1, through their sources,
and every output must be byte-identical; everywhere, SCRUBBER_PURE=1 must load the sources, and
the build hook must fall back to pure Python when it cannot compile.
"""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT, SAMPLES

from scrubber import _native

_SHOW = """
import json, sys
import scrubber.api, scrubber.cli
from scrubber import _native
mods = [sys.modules[_native.module_name(p)] for p in _native.MODULES if _native.module_name(p) in sys.modules]
print(json.dumps({"compiled": _native.compiled(), "files": [m.__file__ for m in mods]}))
"""

# Scrub every input given, with a fixed clock, into OUT/<n>/: the outputs of one interpreter.
_SCRUB = """
import datetime as dt, sys
from pathlib import Path
from scrubber.api import Options, scrub_to_dir
from scrubber.errors import InputError
from scrubber import _native
out = Path(sys.argv[1])
for n, path in enumerate(sys.argv[2:]):
    opts = Options(html=False, now=dt.datetime(2026, 1, 20, 12, 0), control_base=1)
    try:
        scrub_to_dir(path, out / str(n), options=opts)
    except InputError as exc:  # not X12 at all: the one-line reason is the output
        (out / str(n)).mkdir(parents=True, exist_ok=True)
        (out / str(n) / "error.txt").write_text(str(exc))
from scrubber.parallel import scrub_files
files = [p for p in sys.argv[2:] if p.endswith(".x12")]
opts = Options(html=False, now=dt.datetime(2026, 1, 20, 12, 0), control_base=1)
outcomes = scrub_files(files, str(out / "jobs2"), opts, jobs=2)  # results and errors pickled back from workers
assert all(not error for _, _, error in outcomes), outcomes
print(len(_native.compiled()))
"""


def _env(pure: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SCRUBBER_PURE"}
    if pure:
        env["SCRUBBER_PURE"] = "1"
    return env


def _python(code: str, *args: str, pure: bool) -> str:
    done = subprocess.run([sys.executable, "-c", code, *args], env=_env(pure), capture_output=True, text=True,
                          timeout=600, check=True)
    return done.stdout


def _compiled_installed() -> bool:
    return bool(json.loads(_python(_SHOW, pure=False))["compiled"])


def test_scrubber_pure_loads_every_module_from_its_source() -> None:
    shown = json.loads(_python(_SHOW, pure=True))
    assert shown["compiled"] == []
    assert len(shown["files"]) == len(_native.MODULES)
    assert all(f.endswith(".py") for f in shown["files"]), shown["files"]


def test_compiled_and_pure_builds_write_the_same_bytes(tmp_path: Path) -> None:
    if not _compiled_installed():
        pytest.skip("no compiled build installed (SCRUBBER_COMPILE=1 pip install . makes one)")
    gen = ROOT / "bench" / "generate.py"
    inputs = [FIXTURES / "mixed.837", *sorted(p for p in SAMPLES.rglob("*") if p.is_file())[:12]]
    for profile in ("realistic", "findings"):
        path = tmp_path / f"{profile}.x12"
        extra = ["--findings"] if profile == "findings" else []
        subprocess.run([sys.executable, str(gen), "1500", "-o", str(path), "--seed", "3", *extra], check=True,
                       capture_output=True, timeout=300)
        inputs.append(path)
    args = [str(p) for p in inputs]
    assert int(_python(_SCRUB, str(tmp_path / "pure"), *args, pure=True)) == 0
    assert int(_python(_SCRUB, str(tmp_path / "compiled"), *args, pure=False)) == len(_native.MODULES)
    pure = {p.relative_to(tmp_path / "pure"): p.read_bytes() for p in (tmp_path / "pure").rglob("*") if p.is_file()}
    compiled = {p.relative_to(tmp_path / "compiled"): p.read_bytes()
                for p in (tmp_path / "compiled").rglob("*") if p.is_file()}
    assert sorted(pure) == sorted(compiled) and len(pure) >= len(inputs)
    different = [str(name) for name in pure if pure[name] != compiled[name]]
    assert different == []


def test_a_source_edited_after_compiling_makes_the_package_run_its_sources(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "scrubber"
    (pkg / "x12").mkdir(parents=True)
    src = pkg / "x12" / "segments.py"
    src.write_text("X = 1\n")
    (pkg / _native.MANIFEST).write_text(json.dumps({"scrubber/x12/segments.py": _native.source_hash(src)}))
    monkeypatch.setattr(_native, "_PACKAGE", pkg)
    monkeypatch.setattr(_native, "_ROOT", tmp_path)
    assert _native._stale() == []
    src.write_text("X = 2\n")
    assert _native._stale() == ["scrubber/x12/segments.py"]
    (pkg / _native.MANIFEST).unlink()
    assert _native._stale() == []  # no compiled build: nothing to be stale


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch) -> dict:
    pytest.importorskip("hatchling")
    if not (ROOT / "hatch_build.py").exists():
        pytest.skip("hatch_build.py ships in the source tree and sdist, not in the wheel")
    for var in ("SCRUBBER_COMPILE", "SCRUBBER_PURE"):
        monkeypatch.delenv(var, raising=False)
    return runpy.run_path(str(ROOT / "hatch_build.py"))


def test_the_build_compiles_only_when_asked_and_not_told_pure(hook: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    assert not hook["wanted"]()
    monkeypatch.setenv("SCRUBBER_COMPILE", "1")
    assert hook["wanted"]()
    monkeypatch.setenv("SCRUBBER_PURE", "1")
    assert not hook["wanted"]()
    assert hook["MODULES"] == _native.MODULES


def test_the_build_falls_back_to_pure_python_without_a_compiler(hook: dict, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    compile_modules = hook["compile_modules"]
    compile_modules.__globals__["shutil"] = type("NoCompiler", (), {"which": staticmethod(lambda name: None)})
    assert compile_modules(tmp_path) is None
    assert "building pure Python" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
