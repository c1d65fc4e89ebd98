"""The compiled build (hatch_build.py, scrubber/_native.py): same bytes as the sources, pure fallback.

``pip install`` compiles where the machine can (CI does). Where a compiled build is installed,
the same inputs go through the compiled modules and, with SCRUBBER_PURE=1, through their sources
(the rest of the suite runs the sources: tests replace functions, which compiled callers do not
see), and every output must be byte-identical. Everywhere: SCRUBBER_PURE=1 loads the sources, a
stale compiled module is never run, and a build that cannot compile gives pure Python and says why.
"""

from __future__ import annotations

import json
import os
import random
import runpy
import shlex
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT, SAMPLES

from scrubber import _native

_SHOW = """
import json, sys
import scrubber.api, scrubber.cli, scrubber.stitch
from scrubber import _native
mods = [sys.modules[_native.module_name(p)] for p in _native.MODULES if _native.module_name(p) in sys.modules]
print(json.dumps({"compiled": _native.compiled(), "files": [m.__file__ for m in mods], "stale": _native._stale()}))
"""

# Scrub what the plan (a JSON file) lists, with a fixed clock: each input into its own folder, with
# the jobs given (2: a split run of one file), then all the .x12 inputs at once over 2 processes
# (their summaries pickled back). An input the scrubber refuses leaves its one-line reason.
_SCRUB = """
import datetime as dt, json, sys
from pathlib import Path
from scrubber.api import Options, scrub_to_dir
from scrubber.errors import InputError
from scrubber.parallel import scrub_files
from scrubber import _native
plan, out = json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2])
def options(jobs):
    return Options(html=True, now=dt.datetime(2026, 1, 20, 12, 0), control_base=1, jobs=jobs)
for n, (path, jobs) in enumerate(plan["each"]):
    folder = out / f"{n}-{jobs}"
    try:
        scrub_to_dir(path, folder, options=options(jobs))
    except InputError as exc:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "error.txt").write_text(str(exc))
    except Exception as exc:  # compared too: the same failure either way, or the test shows it
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "unexpected.txt").write_text(type(exc).__name__)
outcomes = scrub_files(plan["together"], str(out / "together"), options(1), jobs=2)
(out / "together.txt").write_text(repr([(error, s.claims if s else None) for _, s, error in outcomes]))
import pickle
from scrubber.api import scrub_bytes
from scrubber.rules.catalog import load_catalog
catalog = load_catalog()  # sent to --jobs and Dask workers
assert pickle.loads(pickle.dumps(catalog)) == catalog
for n, path in enumerate(plan["pickled"]):  # claims and findings held in memory, pickled and back
    result = scrub_bytes(Path(path).read_bytes(), options=options(1))
    back = pickle.loads(pickle.dumps(result))
    assert [c.findings for c in back.claims] == [c.findings for c in result.claims]
    (out / f"pickled-{n}.txt").write_text(repr([(c.claim.claim_id, [ln.code for ln in c.claim.lines],
                                                  c.claim.transaction.group.interchange.control, c.findings)
                                                 for c in back.claims]))
print(len(_native.compiled()))
"""


def _env(pure: bool, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SCRUBBER_PURE", "SCRUBBER_COMPILE")}
    if pure:
        env["SCRUBBER_PURE"] = "1"
    env.update(extra)
    return env


#: where the child processes start: not the checkout, whose sources would shadow the installed package
_AWAY = tempfile.gettempdir()


def _python(code: str, *args: str, pure: bool) -> str:
    done = subprocess.run([sys.executable, "-c", code, *args], env=_env(pure), capture_output=True, text=True,
                          timeout=900, check=False, cwd=_AWAY)
    assert done.returncode == 0, done.stderr[-3000:]
    # a worker that fails (a task it cannot unpickle) leaves the file to one process, the same
    # bytes: only its traceback tells
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return done.stdout


def _installed() -> dict:
    return json.loads(_python(_SHOW, pure=False))


def test_scrubber_pure_loads_every_module_from_its_source() -> None:
    shown = json.loads(_python(_SHOW, pure=True))
    assert shown["compiled"] == []
    assert len(shown["files"]) == len(_native.MODULES)
    assert all(f.endswith(".py") for f in shown["files"]), shown["files"]
    status = subprocess.run([sys.executable, "-m", "scrubber.compiled"], env=_env(True), capture_output=True,
                            text=True, timeout=300, check=True, cwd=_AWAY).stdout
    assert status.strip() == "pure Python (SCRUBBER_PURE is set)"


def test_an_install_that_could_compile_did(tmp_path: Path) -> None:
    """CI installs with a compiler: a type error mypyc refuses must fail here, not pass as pure Python."""
    record = _native.build_record()
    if record is None:
        pytest.skip("installed by a build older than the build record")
    if not record["compiled"]:
        why = str(record["why"])
        if why.startswith(("mypyc failed", "mypyc did not run")):
            pytest.fail(f"the compiled build failed, so this install is pure Python: {why}")
        pytest.skip(f"a pure Python install ({why})")
    shown = _installed()
    if shown["stale"]:
        pytest.skip(f"an editable install whose sources changed since compiling: {shown['stale'][:3]}")
    assert sorted(shown["compiled"]) == sorted(_native.module_name(p) for p in _native.MODULES)
    status = subprocess.run([sys.executable, "-m", "scrubber.compiled"], env=_env(False), capture_output=True,
                            text=True, timeout=300, check=True, cwd=_AWAY).stdout
    assert status.strip() == f"compiled: {len(_native.MODULES)} of {len(_native.MODULES)} modules (mypyc)"


def _inputs(tmp_path: Path) -> dict[str, list]:
    """Fixtures, every public sample, mutated and fuzzed files, and two generated files big enough
    to be split over two processes (realistic and findings-heavy)."""
    from fuzz import Base, mutants
    from mutate import corpus

    samples = sorted(p for p in SAMPLES.rglob("*") if p.is_file())
    made = tmp_path / "in"
    made.mkdir()
    for name, text in corpus(14, 60, samples):
        (made / f"m-{name}.837").write_text(text, encoding="latin-1")
    bases = [Base.read(p.name, p.read_bytes()) for p in samples if p.read_bytes().lstrip()[:3] == b"ISA"]
    for n, (_case, data) in enumerate(mutants(random.Random(14).sample(bases, min(12, len(bases))), 14, 40)):
        (made / f"f-{n:03d}.837").write_bytes(data)
    generated = []
    for profile in ("realistic", "findings"):
        path = made / f"{profile}.x12"
        extra = ["--findings"] if profile == "findings" else []
        subprocess.run([sys.executable, str(ROOT / "bench" / "generate.py"), "4000", "-o", str(path), "--seed", "3",
                        *extra], check=True, capture_output=True, timeout=300)
        generated.append(path)
    # sent twice: the second copy's claims meet the first's in earlier pieces, whose keys go to the
    # workers that do those pieces again (pickled across processes, as compiled classes)
    twice = made / "twice.x12"
    twice.write_bytes(generated[0].read_bytes() * 2)
    generated.append(twice)
    singles = [*sorted(FIXTURES.glob("*.837")), *samples, *sorted(made.glob("*.837"))]
    each = [[str(p), 1] for p in [*singles, *generated]] + [[str(p), 2] for p in generated]
    fixtures = [str(p) for p in sorted(FIXTURES.glob("*.837"))]
    return {"each": each, "together": [str(p) for p in generated] + fixtures, "pickled": fixtures}


def _outputs(folder: Path) -> dict[Path, bytes]:
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_compiled_and_pure_builds_write_the_same_bytes(tmp_path_factory: pytest.TempPathFactory) -> None:
    if not _installed()["compiled"]:
        pytest.skip("no compiled build installed (pip install . compiles where a C compiler is found)")
    # Not tmp_path: its reports would all be schema-checked again after the test (conftest), 20 s
    # for what the rest of the suite checks
    tmp_path = tmp_path_factory.mktemp("native")
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(_inputs(tmp_path)))
    assert int(_python(_SCRUB, str(plan), str(tmp_path / "pure"), pure=True)) == 0
    assert int(_python(_SCRUB, str(plan), str(tmp_path / "compiled"), pure=False)) == len(_native.MODULES)
    pure, compiled = _outputs(tmp_path / "pure"), _outputs(tmp_path / "compiled")
    assert sorted(pure) == sorted(compiled)
    suffixes = {p.suffix for p in pure}
    assert {".277", ".837", ".json", ".csv", ".html", ".999"} <= suffixes, suffixes  # every output compared
    assert not [p for p in pure if p.name == "unexpected.txt"]
    assert sum(1 for p in pure if p.parts[0].endswith("-2") and p.suffix == ".277") == 3  # the split runs
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
    for var in ("SCRUBBER_COMPILE", "SCRUBBER_PURE", "CC"):
        monkeypatch.delenv(var, raising=False)
    return runpy.run_path(str(ROOT / "hatch_build.py"))


def test_the_build_compiles_unless_told_not_to(hook: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    assert hook["wanted"]()
    monkeypatch.setenv("SCRUBBER_COMPILE", "0")
    assert not hook["wanted"]()
    monkeypatch.setenv("SCRUBBER_COMPILE", "1")
    assert hook["wanted"]()
    monkeypatch.setenv("SCRUBBER_PURE", "1")
    assert not hook["wanted"]()
    assert hook["MODULES"] == _native.MODULES


def test_the_build_tells_when_no_compiler_is_found(hook: dict, monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    assert hook["cannot_build"]() == f"C compiler {str(tmp_path / 'no-such-cc')!r} not found"
    built, why = hook["compile_modules"](tmp_path)
    assert built == [] and why.startswith("C compiler")
    monkeypatch.delenv("CC")
    monkeypatch.setenv("PATH", str(tmp_path))  # a folder without a compiler
    python_cc = shlex.split(sysconfig.get_config_var("CC") or "cc")[0]
    if not os.path.isabs(python_cc):
        assert hook["cannot_build"]() == "no C compiler found"


def test_a_failed_compile_falls_back_and_says_why(hook: dict, tmp_path: Path) -> None:
    """A type error mypyc refuses (or no mypy in the build environment): no files, the reason given."""
    if hook["cannot_build"]():
        pytest.skip(f"no compiling here: {hook['cannot_build']()}")
    bad = tmp_path / "bad.py"
    bad.write_text("def half(n: int) -> str:\n    return n // 2\n")
    compile_modules = hook["compile_modules"]
    compile_modules.__globals__["MODULES"] = (str(bad),)
    built, why = compile_modules(tmp_path / "out")
    assert built == [] and why.startswith("mypyc failed: "), why
    assert "bad.py" in why or "mypyc" in why.removeprefix("mypyc failed: ")


@pytest.mark.parametrize("no_compiler", ["CC names a missing compiler", "no compiler on PATH"])
def test_a_build_without_a_compiler_is_pure_python_says_why_and_works(no_compiler: str, tmp_path: Path) -> None:
    pytest.importorskip("hatchling")
    if not (ROOT / "hatch_build.py").exists():
        pytest.skip("hatch_build.py ships in the source tree and sdist, not in the wheel")
    python_cc = shlex.split(sysconfig.get_config_var("CC") or "cc")[0]
    if no_compiler == "no compiler on PATH" and os.path.isabs(python_cc):
        pytest.skip("this Python names its compiler by an absolute path")
    if no_compiler.startswith("CC"):
        env = _env(False, CC=str(tmp_path / "no-such-cc"))
    else:
        env = _env(False, PATH=str(tmp_path))  # a folder without a compiler
        env.pop("CC", None)
    build = "import sys; from hatchling.build import build_wheel; print(build_wheel(sys.argv[1]))"
    done = subprocess.run([sys.executable, "-c", build, str(tmp_path / "dist")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600, check=True)
    said = [ln for ln in done.stderr.splitlines() if ln.startswith("scrubber:")]
    assert len(said) == 1 and "building pure Python" in said[0] and "compiler" in said[0], done.stderr
    wheel = tmp_path / "dist" / done.stdout.split()[-1]
    assert wheel.name.endswith("-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        assert not [n for n in names if n.endswith((".so", ".pyd"))]
        assert json.loads(zf.read(f"scrubber/{_native.RECORD}"))["compiled"] is False
        zf.extractall(tmp_path / "site")
    # The pure wheel runs: a scrub from it, outside the checkout, as the shipped fixture's README run
    run = ("import sys; from scrubber.cli import main; from scrubber import _native; "
           "code = main(['scrub', sys.argv[1], '-o', sys.argv[2], '--no-html']); print(code, _native.status())")
    shown = subprocess.run([sys.executable, "-c", run, str(FIXTURES / "mixed.837"), str(tmp_path / "out")],
                           cwd=tmp_path, env=_env(False, PYTHONPATH=str(tmp_path / "site")), capture_output=True,
                           text=True, timeout=300, check=True).stdout.strip().splitlines()[-1]
    assert shown.startswith("1 pure Python (") and "compiler" in shown, shown
    assert sorted(p.suffix for p in (tmp_path / "out").iterdir()) == [".277", ".837", ".999", ".csv", ".json"]
