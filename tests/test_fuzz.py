"""Mutation fuzzing: whatever the input, no traceback, no "unexpected" failure, no lost claim and
no 277CA that pyx12 refuses (issue 16's invariants), over a few hundred seeded mutants.

Each mutant is scrubbed in-process into a folder, as the command line does (InputError is the
one-line exit 2; anything else would be "unexpected"), and its outputs are checked from disk.
``FUZZ_CASES`` raises the count for a longer run; the figures are printed (``pytest -s``).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import traceback
from pathlib import Path

import pytest
from conftest import FIXTURES, SAMPLES
from fuzz import Base, Tally, check_outputs, mutants

from scrubber.api import Options, scrub_to_dir
from scrubber.errors import InputError
from scrubber.synth import file_837

CASES = int(os.environ.get("FUZZ_CASES", "400"))
VALIDATE_CASES = int(os.environ.get("FUZZ_VALIDATE_CASES", "16"))
NOW = dt.datetime(2025, 2, 1, 12, 0)


def _bases() -> list[Base]:
    files = {p.name: p.read_bytes() for p in sorted(FIXTURES.glob("*.837"))}
    files["pipes.837"] = file_837(
        [{"id": "P1", "lines": [{"code": "64616", "mods": ["RT"]}, {"code": "J0585", "ndc": "00023114501",
                                                                     "units": "100", "ref6r": "L2"}]},
         {"id": "P2", "dependent": {"first": "AL"}}],
        sep="|", comp=">", rep="!", term="'").encode()
    for sample in ("imsweb/x12_valid.txt", "stupidedi/ambulance.edi"):
        if (SAMPLES / sample).exists():
            files[sample] = (SAMPLES / sample).read_bytes()
    return [Base.read(name, data) for name, data in files.items()]


def _scrub(case: str, data: bytes, tmp: Path, engine, tally: Tally, options: Options) -> None:
    src = tmp / "in" / "fuzz.837"
    out = tmp / "out"
    src.write_bytes(data)
    tally.cases += 1
    try:
        scrub_to_dir(src, out, options=options, engine=engine)
    except InputError:
        tally.unusable += 1
        leftovers = sorted(os.listdir(out)) if out.exists() else []
        if leftovers:
            tally.lost_claims.append(f"{case}: unusable input left {leftovers}")
        return
    except Exception:
        tally.tracebacks.append(f"{case}: {traceback.format_exc(limit=-3)}")
        return
    tally.scrubbed += 1
    try:
        check_outputs(case, data, out, "fuzz", tally)
    except Exception:
        tally.tracebacks.append(f"{case} (checking outputs): {traceback.format_exc(limit=-3)}")
    finally:
        shutil.rmtree(out)


@pytest.fixture
def work(tmp_path: Path):
    """A scratch folder in memory where there is one: each mutant's commit fsyncs, which a disk
    makes the slowest part of the run."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    path = Path(tempfile.mkdtemp(prefix="scrubber-fuzz-", dir=shm))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _run(tmp_path: Path, engine, seed: int, count: int, options: Options) -> Tally:
    (tmp_path / "in").mkdir()
    tally = Tally()
    for case, data in mutants(_bases(), seed, count):
        _scrub(case, data, tmp_path, engine, tally, options)
    print(f"\nfuzz seed {seed}{' --validate' if options.validate else ''}: {tally.figures()}")
    return tally


def test_mutants_keep_every_invariant(work: Path, engine) -> None:
    tally = _run(work, engine, 16, CASES, Options(html=True, now=NOW, control_base=1))
    assert not tally.failures, tally.figures() + "\n" + "\n".join(tally.failures[:10])
    # the mutants must reach the scrub, not only the front door
    assert tally.scrubbed > CASES // 2 and tally.unusable > CASES // 20, tally.figures()


def test_mutants_under_validate_keep_every_invariant(work: Path, engine) -> None:
    options = Options(html=False, now=NOW, control_base=1, validate=True, jobs=2)
    tally = _run(work, engine, 1601, VALIDATE_CASES, options)
    assert not tally.failures, tally.figures() + "\n" + "\n".join(tally.failures[:10])
