"""Outputs committed as a set (scrubber/commit.py): kills, a full disk, concurrent runs, Ctrl-C,
inputs that would be overwritten and output folders that cannot be used.

The invariant every test checks: after any run, finished or not, NAME.* in the output folder is one
run's complete set, or, while ``.NAME.scrubber-commit`` exists, a set the next run completes.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from invariants import ack_claims, claims_of
from oracle import assert_valid_277

from scrubber.commit import FAULT_ENV, JOURNAL, OutputSet, recover
from scrubber.errors import OutputError
from scrubber.reports import claims as report_claims
from scrubber.synth import file_837

OLD = file_837([{"id": "OLD-1"}, {"id": "OLD-2"}, {"id": "OLD-3", "charge": "1.00"}])  # 2 accepted, 1 rejected
NEW = file_837([{"id": f"NEW-{i}", "charge": "1.00"} for i in range(5)], control=2)  # every claim rejected


def run(*args: str | Path, env: dict[str, str] | None = None, **kw) -> subprocess.CompletedProcess[bytes]:
    full = {k: v for k, v in os.environ.items() if k not in ("SCRUBBER_DEBUG", FAULT_ENV)}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "scrubber", "scrub", *map(str, args)], capture_output=True,
                          timeout=120, env=full, **kw)


def visible(outdir: Path, name: str = "claims") -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(outdir.iterdir()) if p.name.startswith(f"{name}.")}


def hidden(outdir: Path) -> list[str]:
    return sorted(n for n in os.listdir(outdir) if n.startswith("."))


def one_line(proc: subprocess.CompletedProcess[bytes]) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    err = proc.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err and err.count("\n") == 1 and err.startswith("scrubber: "), err
    return err.strip()


def check_new_set(outdir: Path) -> None:
    """The complete set of NEW: every claim in the 277CA and the report, no accepted 837."""
    files = visible(outdir)
    assert sorted(files) == ["claims.277", "claims.report.html", "claims.report.json", "claims.worklist.csv"], sorted(files)
    report = json.loads(files["claims.report.json"])
    ack = files["claims.277"].decode("latin-1")
    assert [c["claim_id"] for c in report_claims(report)] == [a[0] for a in ack_claims(ack)] == [f"NEW-{i}" for i in range(5)]
    assert_valid_277(ack)


@pytest.fixture
def old_set(tmp_path: Path) -> tuple[Path, Path, dict[str, bytes]]:
    src, out = tmp_path / "claims.837", tmp_path / "out"
    src.write_text(OLD)
    assert run(src, "-o", out).returncode == 1
    (out / "claims.999").write_text("a 999 from an earlier --validate run")
    before = visible(out)
    assert sorted(before) == ["claims.277", "claims.999", "claims.accepted.837", "claims.report.html",
                              "claims.report.json", "claims.worklist.csv"]
    assert hidden(out) == []
    return src, out, before


# -- kill at the commit point ----------------------------------------------------------------------
@pytest.mark.parametrize("point", ["staged", "committed", "renamed-one"])
def test_sigkill_during_a_commit_then_the_next_run_in_the_folder_settles_the_set(point: str, old_set) -> None:
    src, out, before = old_set
    src.write_text(NEW)
    proc = run(src, "-o", out, env={FAULT_ENV: point})
    assert proc.returncode == -signal.SIGKILL
    journal = out / JOURNAL.format("claims")
    assert hidden(out), "a killed run leaves its stage (and journal) behind"
    if point == "staged":
        assert visible(out) == before and not journal.exists()  # before the commit point: nothing moved
    else:
        assert journal.exists()  # after it: the journal says the set is being replaced
    if point == "renamed-one":
        assert visible(out) != before  # a consumer that ignored the journal would see a mixed set here

    # Any later run in the folder, for another input, rolls the interrupted commit forward (or back).
    other = src.parent / "other.837"
    other.write_text(file_837([{"id": "OTHER-1"}], control=3))
    assert run(other, "-o", out).returncode == 0
    assert hidden(out) == [], "stage, journal and lock files are cleaned up"
    if point == "staged":
        assert visible(out) == before
    else:
        check_new_set(out)  # complete, with the stale accepted 837 and 999 gone


def test_a_later_run_of_the_same_name_finishes_the_commit_first(old_set) -> None:
    src, out, _before = old_set
    src.write_text(NEW)
    assert run(src, "-o", out, env={FAULT_ENV: "renamed-one"}).returncode == -signal.SIGKILL
    assert run(src, "-o", out, "--no-html").returncode == 1
    assert hidden(out) == []
    assert sorted(visible(out)) == ["claims.277", "claims.report.json", "claims.worklist.csv"]  # --no-html: the old HTML went too


# -- a full disk --------------------------------------------------------------------------------------
def _big() -> str:
    return file_837([{"id": f"BIG-{i}", "member_id": f"M{i}"} for i in range(1500)], claims_per_billing=100)


def _assert_full_disk_leaves_the_old_set(proc, out: Path, before: dict[str, bytes]) -> None:
    line = one_line(proc)
    assert f"output folder {out}" in line, line
    assert "cannot read" not in line  # not blamed on the input
    assert visible(out) == before
    assert hidden(out) == []


def test_full_disk_on_a_small_tmpfs_leaves_the_previous_set(tmp_path: Path) -> None:
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root and mount rights)")
    try:
        out = mnt / "out"
        src = tmp_path / "claims.837"
        src.write_text(OLD)
        assert run(src, "-o", out).returncode == 1
        before = visible(out)
        src.write_text(_big())
        proc = run(src, "-o", out)
        _assert_full_disk_leaves_the_old_set(proc, out, before)
        assert "No space left on device" in proc.stderr.decode()
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_file_size_limit_acts_as_a_full_disk(old_set) -> None:
    src, out, before = old_set
    src.write_text(_big())

    def limit() -> None:  # Python ignores SIGXFSZ, so a write past the limit fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    # --no-html: the HTML writer may spool parts to the temporary folder, which the limit hits too
    proc = run(src, "-o", out, "--no-html", preexec_fn=limit)
    _assert_full_disk_leaves_the_old_set(proc, out, before)
    assert "File too large" in proc.stderr.decode()


# -- concurrent runs -----------------------------------------------------------------------------------
def test_a_run_waits_for_the_lock_of_its_name(old_set) -> None:
    fcntl = pytest.importorskip("fcntl")
    src, out, before = old_set
    src.write_text(NEW)
    fd = os.open(out / ".claims.scrubber-lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    proc = subprocess.Popen([sys.executable, "-m", "scrubber", "scrub", str(src), "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(2)
        assert proc.poll() is None, "the run went ahead while another held the lock of its name"
        assert visible(out) == before
    finally:
        os.unlink(out / ".claims.scrubber-lock")
        os.close(fd)
    assert proc.wait(60) == 1
    check_new_set(out)
    assert hidden(out) == []


def test_concurrent_runs_writing_one_name_never_mix_their_outputs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    sizes = {"a": 300, "b": 120, "c": 40}
    procs = []
    for folder, n in sizes.items():
        (tmp_path / folder).mkdir()
        src = tmp_path / folder / "claims.837"
        src.write_text(file_837([{"id": f"{folder}-{i}", "charge": "1.00" if i % 3 == 0 else "100.00"}
                                 for i in range(n)], claims_per_billing=20))
        procs.append(subprocess.Popen([sys.executable, "-m", "scrubber", "scrub", str(src), "-o", str(out),
                                       "--no-html"], stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    assert [p.wait(120) for p in procs] == [1, 1, 1]
    report = json.loads((out / "claims.report.json").read_text())
    ids = [c["claim_id"] for c in report_claims(report)]
    folder = ids[0].split("-")[0]
    assert ids == [f"{folder}-{i}" for i in range(sizes[folder])]  # one run's report, whole
    ack = (out / "claims.277").read_text(encoding="latin-1")
    assert [a[0] for a in ack_claims(ack)] == ids  # the same run's 277CA
    accepted = [c.claim_id for c in claims_of((out / "claims.accepted.837").read_bytes())]
    assert accepted == [c["claim_id"] for c in report_claims(report) if c["status"] == "accepted"]
    assert hidden(out) == []


# -- Ctrl-C during a multi-input run -----------------------------------------------------------------
def test_ctrl_c_during_a_parallel_run_stops_queued_inputs_and_leaves_no_partial_set(tmp_path: Path) -> None:
    inbox, out = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    text = file_837([{"id": f"C{i}", "member_id": f"M{i}"} for i in range(4000)], claims_per_billing=50)
    names = [f"f{i}" for i in range(8)]
    for name in names:
        (inbox / f"{name}.837").write_text(text)
    proc = subprocess.Popen([sys.executable, "-m", "scrubber", "scrub", str(inbox), "-o", str(out), "--jobs", "2",
                             "--no-html"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 60
    while not (out.exists() and any(n.endswith(".scrubber-stage") for n in os.listdir(out))):
        assert time.time() < deadline and proc.poll() is None, "the run never started writing"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole process group
    _stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2 and b"interrupted" in stderr and b"Traceback" not in stderr, stderr
    assert hidden(out) == []
    done = {n for n in names if (out / f"{n}.report.json").exists()}
    assert len(done) <= 4, f"queued inputs went on being scrubbed after Ctrl-C: {sorted(done)}"
    for name in names:  # each input: its whole set, or nothing
        files = sorted(p.name for p in out.iterdir() if p.name.startswith(f"{name}."))
        assert files in ([], [f"{name}.277", f"{name}.accepted.837", f"{name}.report.json", f"{name}.worklist.csv"]), files


# -- inputs and output folders -------------------------------------------------------------------------
def test_an_input_is_never_replaced_by_its_own_output(tmp_path: Path) -> None:
    src = tmp_path / "claims.277"  # an 837 named like the 277CA it would produce
    src.write_text(OLD)
    line = one_line(run(src, "-o", tmp_path))
    assert f"output folder {tmp_path}" in line and "claims.277" in line
    assert src.read_text() == OLD
    assert sorted(os.listdir(tmp_path)) == ["claims.277"]


@pytest.mark.parametrize("where", ["a-file", "below-a-file", "in-proc", "empty"])
def test_an_unusable_output_folder_is_named_and_exits_2(where: str, tmp_path: Path) -> None:
    src = tmp_path / "claims.837"
    src.write_text(OLD)
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    if where == "in-proc" and not Path("/proc/self").is_dir():
        pytest.skip("no /proc here")
    outdir = {"a-file": str(blocker), "below-a-file": str(blocker / "out"), "in-proc": "/proc/no-such/out",
              "empty": ""}[where]
    line = one_line(run(src, "-o", outdir, cwd=tmp_path))
    assert line.startswith(f"scrubber: output folder {outdir if outdir else repr('')}: "), line
    assert "claims.837" not in line  # the input is not at fault
    assert blocker.read_text() == "not a folder"


def test_file_names_that_are_not_utf8(tmp_path: Path) -> None:
    name = b"claims\xff"
    src = os.path.join(os.fsencode(tmp_path), name + b".837")
    with open(src, "wb") as fh:
        fh.write(OLD.encode())
    for encoding in ("", "utf-8", "ascii"):
        out = tmp_path / f"out-{encoding or 'default'}"
        env = {"PYTHONIOENCODING": encoding} if encoding else {}
        proc = subprocess.run([sys.executable, "-m", "scrubber", "scrub", src, "-o", str(out)], capture_output=True,
                              timeout=120, env={**os.environ, **env})
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr == b"" and b"claims\\xff.837: 3 claims" in proc.stdout, proc.stdout
        assert sorted(os.listdir(os.fsencode(out))) == [name + s for s in (b".277", b".accepted.837", b".report.html",
                                                                            b".report.json", b".worklist.csv")]
        report = json.loads((out / os.fsdecode(name + b".report.json")).read_text())
        assert report["input"] == "claims\ufffd.837"


# -- the protocol, in-process ----------------------------------------------------------------------
FILES = {"a": "n.a", "b": "n.b", "c": "n.c"}


def test_not_written_outputs_are_removed_by_the_commit(tmp_path: Path) -> None:
    for f in FILES.values():
        (tmp_path / f).write_text("old")
    with OutputSet(tmp_path, "n", FILES) as out:
        out.open("a").write("new a")
        out.open("b").write("discarded")
        out.discard("b")
        assert (tmp_path / "n.a").read_text() == "old"  # nothing visible before the commit
        assert out.commit() == [tmp_path / "n.a"]
    assert sorted(os.listdir(tmp_path)) == ["n.a"]
    assert (tmp_path / "n.a").read_text() == "new a"


def test_an_error_before_the_commit_leaves_everything_as_it_was(tmp_path: Path) -> None:
    (tmp_path / "n.a").write_text("old")
    with pytest.raises(RuntimeError), OutputSet(tmp_path, "n", FILES) as out:
        out.open("a").write("half")
        raise RuntimeError("the input turned out unusable")
    assert sorted(os.listdir(tmp_path)) == ["n.a"] and (tmp_path / "n.a").read_text() == "old"


def test_a_journal_is_rolled_forward_once_and_only_once(tmp_path: Path) -> None:
    stage = tmp_path / ".n.scrubber-stage"
    stage.mkdir()
    (stage / "n.a").write_text("new a")
    (tmp_path / "n.b").write_text("stale b")
    journal = {"name": "n", "rename": ["n.a", "n.c"], "remove": ["n.b"]}  # n.c was moved before the kill
    (tmp_path / "n.c").write_text("new c")
    (tmp_path / JOURNAL.format("n")).write_text(json.dumps(journal))
    recover(tmp_path, "n")
    recover(tmp_path, "n")
    assert sorted(os.listdir(tmp_path)) == ["n.a", "n.c"]
    assert (tmp_path / "n.a").read_text() == "new a" and (tmp_path / "n.c").read_text() == "new c"


def test_an_unreadable_journal_stops_with_the_folder_named(tmp_path: Path) -> None:
    (tmp_path / JOURNAL.format("n")).write_text("{not json")
    with pytest.raises(OutputError, match=f"output folder {tmp_path}: the commit journal"):
        recover(tmp_path, "n")


def test_ctrl_c_while_the_set_is_prepared_leaves_no_lock_or_stage(tmp_path: Path, monkeypatch) -> None:
    # An interrupt between taking the lock and handing the set over (a parallel run's Ctrl-C lands
    # anywhere): the with-statement's exit does not run, so the set must clean up after itself.
    import scrubber.commit as commit

    def interrupted(outdir: Path, name: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(commit, "recover", interrupted)
    with pytest.raises(KeyboardInterrupt):
        with OutputSet(tmp_path, "claims", {"json": "claims.report.json"}):
            pass
    assert hidden(tmp_path) == [] and os.listdir(tmp_path) == []
