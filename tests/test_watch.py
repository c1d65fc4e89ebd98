"""``scrubber watch``: the drop folder, run for real, killed at random points, and each crash state by hand."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import FIXTURES
from oracle import assert_valid_277, assert_valid_837

from scrubber.api import Options
from scrubber.commit import FAULT_ENV
from scrubber.reports import claims as claims_of
from scrubber.service.watch import Folders, Watcher
from scrubber.synth import file_837

POLL = "0.4"


def start(inbox: Path, outbox: Path, log: Path, *extra: str, poll: str = POLL, fault: str = "") -> subprocess.Popen:
    with open(log, "ab") as fh:
        return subprocess.Popen([sys.executable, "-m", "scrubber", "watch", str(inbox), "-o", str(outbox), "--poll",
                                 poll, "--no-html", *extra], stdout=fh, stderr=subprocess.STDOUT,
                                env={**os.environ, FAULT_ENV: fault})


def wait_for(condition, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


def claims_file(tag: str, n: int, rejected: int = 0) -> bytes:
    return file_837([{"id": f"{tag}C{j}", "charge": "1.00" if j < rejected else "100.00"} for j in range(n)]).encode()


def settled(inbox: Path, outbox: Path) -> bool:
    """Nothing left to do: INBOX holds no file, nothing claimed, no commit in flight."""
    return (not [p for p in inbox.iterdir() if p.is_file() and not p.name.startswith(".")]
            and not [p for p in (inbox / ".work").iterdir() if p.is_file() and p.name != ".lock"]
            and not list((inbox / ".work" / ".notes").iterdir())
            and not [p for p in outbox.iterdir() if p.name.startswith(".")])


@pytest.mark.parametrize("mode", ["events", "polling"])
def test_drop_folder_takes_complete_files_once(tmp_path: Path, mode: str) -> None:
    inbox, outbox, log = tmp_path / "in", tmp_path / "out", tmp_path / "watch.log"
    proc = start(inbox, outbox, log, *(["--polling"] if mode == "polling" else []))
    try:
        wait_for(lambda: (inbox / ".work").is_dir() and "watching" in log.read_text())
        mixed = (FIXTURES / "mixed.837").read_bytes()
        with open(inbox / "claims.837", "wb") as fh:  # written slowly, in pieces
            for i in range(0, len(mixed), 1000):
                fh.write(mixed[i:i + 1000])
                fh.flush()
                time.sleep(0.05)
        (inbox / "later.837.part").write_bytes(mixed)  # a temporary name: left alone
        (inbox / ".hidden.837").write_bytes(mixed)
        (inbox / "LICENSE").write_text("Apache License\n")
        wait_for(lambda: (outbox / "claims.report.json").exists() and (inbox / "failed" / "LICENSE").exists())
        time.sleep(float(POLL) * 3)
        assert (inbox / "later.837.part").exists() and (inbox / ".hidden.837").exists()
        (inbox / "later.837.part").rename(inbox / "later.837")  # renamed into place
        (inbox / "claims.837").write_bytes(claims_file("D", 2))  # a second input of the same name
        wait_for(lambda: (outbox / "later.report.json").exists() and (outbox / "claims-2.report.json").exists())
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()
    assert (inbox / "processed" / "claims.837").read_bytes() == mixed
    assert (inbox / "processed" / "later.837").read_bytes() == mixed
    assert (inbox / "processed" / "claims-2.837").read_bytes() == claims_file("D", 2)
    assert sorted(p.name for p in (inbox / "failed").iterdir()) == ["LICENSE", "LICENSE.error.txt"]
    cli = subprocess.run([sys.executable, "-m", "scrubber", "scrub", str(inbox / "failed" / "LICENSE"), "-o",
                          str(tmp_path / "cli")], capture_output=True, text=True)
    assert (inbox / "failed" / "LICENSE.error.txt").read_text().strip() == cli.stderr.strip().removeprefix(
        f"scrubber: {inbox / 'failed'}/")
    assert sorted(p.name for p in outbox.iterdir()) == sorted(
        [f"{stem}.{ext}" for stem in ("claims", "claims-2", "later")
         for ext in ("277", "accepted.837", "report.json", "worklist.csv")]
        + ["claims.999", "later.999"])  # mixed.837 breaks the implementation guide on purpose
    assert json.loads((outbox / "claims-2.report.json").read_text())["claims_total"] == 2
    assert_valid_277((outbox / "claims.277").read_text(encoding="latin-1"))
    assert_valid_837((outbox / "claims.accepted.837").read_text(encoding="latin-1"))
    assert settled(inbox, outbox)


def test_a_second_watcher_on_the_same_inbox_is_refused(tmp_path: Path) -> None:
    inbox, outbox, log = tmp_path / "in", tmp_path / "out", tmp_path / "watch.log"
    first = start(inbox, outbox, log)
    try:
        wait_for(lambda: "watching" in log.read_text())
        second = subprocess.run([sys.executable, "-m", "scrubber", "watch", str(inbox), "-o", str(tmp_path / "o2")],
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 2
        assert second.stderr == f"scrubber: another scrubber watch is already running on {inbox}\n"
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(30) == 0


class Dropper(threading.Thread):
    """Drops files the way exporters do: written in pieces, some renamed into place, some unusable."""

    def __init__(self, inbox: Path, rng: random.Random, count: int) -> None:
        super().__init__(daemon=True)
        self.inbox, self.rng, self.count = inbox, rng, count
        self.dropped: dict[str, tuple[bytes, bool]] = {}  # name -> (content, usable)

    def run(self) -> None:
        rng = self.rng
        for i in range(self.count):
            kind = rng.choice(["good", "good", "good", "renamed", "garbage", "truncated"])
            data = claims_file(f"F{i}", rng.randint(1, 25), rejected=rng.randint(0, 3))
            if kind == "garbage":
                data = b"not a claim file " * rng.randint(1, 200)
            elif kind == "truncated":
                data = data[: data.index(b"SE*")]
            name = f"f{i:03d}.837"
            target = self.inbox / (f"{name}.tmp" if kind == "renamed" else name)
            with open(target, "wb") as fh:
                for piece in range(0, len(data), max(1, len(data) // 4)):
                    fh.write(data[piece:piece + max(1, len(data) // 4)])
                    fh.flush()
                    time.sleep(rng.uniform(0.0, 0.03))
            if kind == "renamed":
                target.rename(self.inbox / name)
            self.dropped[name] = (data, kind not in ("garbage", "truncated"))
            time.sleep(rng.uniform(0.0, 0.15))


def test_killed_at_random_points_it_loses_nothing_and_scrubs_nothing_twice(tmp_path: Path) -> None:
    inbox, outbox, log = tmp_path / "in", tmp_path / "out", tmp_path / "watch.log"
    inbox.mkdir()
    rng = random.Random(1515)
    dropper = Dropper(inbox, rng, 36)
    inodes: dict[str, int] = {}  # every OUTBOX file when first seen: a second commit would replace it
    done = threading.Event()

    def monitor() -> None:
        while not done.is_set():
            if outbox.is_dir():
                for entry in os.scandir(outbox):
                    if entry.is_file() and not entry.name.startswith(".") and entry.name not in inodes:
                        inodes[entry.name] = entry.inode()
            time.sleep(0.01)

    threading.Thread(target=monitor, daemon=True).start()
    dropper.start()
    kills = 0
    # The dropper pauses at most 0.03 s inside a file; a long poll keeps a starved CI machine from
    # making that look like a finished file. Besides the SIGKILLs from here, some runs kill
    # themselves inside an output commit (scrubber.commit's fault points), the narrowest windows.
    while dropper.is_alive() or kills < 8:
        proc = start(inbox, outbox, log, poll="0.8", fault=rng.choice(["", "", "staged", "committed", "renamed-one"]))
        time.sleep(rng.uniform(0.2, 1.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        kills += 1
    started = log.read_text().count("watching ")
    proc = start(inbox, outbox, log, poll="0.8")
    try:
        wait_for(lambda: log.read_text().count("watching ") > started)  # its stop signal handler is in place
        wait_for(lambda: settled(inbox, outbox), timeout=60)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        done.set()
    text = log.read_text()
    assert kills >= 8 and text.count("watching ") >= 2  # a kill may land before the start-up line
    assert "Traceback" not in text and "Error" not in text

    processed = {p.name for p in (inbox / "processed").iterdir()}
    failed = {p.name for p in (inbox / "failed").iterdir()}
    usable = {n for n, (_d, ok) in dropper.dropped.items() if ok}
    assert processed == usable  # every usable input once, under its own name (no -2: none taken twice)
    assert failed == {n for n in dropper.dropped if n not in usable} | {f"{n}.error.txt" for n in dropper.dropped
                                                                         if n not in usable}
    expected_outputs = set()
    for name in sorted(usable):
        data = dropper.dropped[name][0]
        assert (inbox / "processed" / name).read_bytes() == data
        stem = name.removesuffix(".837")
        report = json.loads((outbox / f"{stem}.report.json").read_text())
        assert sorted(c["claim_id"] for c in claims_of(report)) == sorted(re.findall(r"CLM\*([^*]+)", data.decode()))
        expected_outputs |= {f"{stem}.277", f"{stem}.report.json", f"{stem}.worklist.csv"} | (
            {f"{stem}.accepted.837"} if report["accepted"] else set())
        assert len(re.findall(rf"^{re.escape(name)}: \d+ claims", text, re.M)) <= 1  # committed at most once
    assert {p.name for p in outbox.iterdir() if p.is_file()} == expected_outputs
    for fname, inode in inodes.items():
        assert os.stat(outbox / fname).st_ino == inode, f"{fname} was replaced after it appeared"
    for name in sorted(usable)[:3]:
        stem = name.removesuffix(".837")
        assert_valid_277((outbox / f"{stem}.277").read_text(encoding="latin-1"))


# -- each crash state, set up by hand, completed by resume() ----------------------------------------
@pytest.fixture
def folders(tmp_path: Path) -> Folders:
    return Folders.make(tmp_path / "in", tmp_path / "out")


def watcher(folders: Folders) -> Watcher:
    return Watcher(folders, Options(html=False), events=False, log=lambda line: None)


def test_recover_a_claimed_input_with_nothing_committed(folders: Folders) -> None:
    (folders.work / "a.837").write_bytes(claims_file("A", 3))
    stage = folders.outbox / ".a.scrubber-stage"  # a scrub killed before its commit point
    stage.mkdir()
    (stage / "a.277").write_text("half")
    watcher(folders).resume()
    assert (folders.processed / "a.837").exists() and not stage.exists()
    assert json.loads((folders.outbox / "a.report.json").read_text())["claims_total"] == 3
    assert not [p for p in folders.outbox.iterdir() if p.name.startswith(".")]


def _inodes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_ino for p in folder.iterdir() if p.is_file()}


@pytest.mark.parametrize("killed_at", ["committed", "renamed-one", None])
def test_recover_an_input_whose_outputs_were_committed(folders: Folders, killed_at: str | None) -> None:
    """Killed after the commit point (journal written, outputs partly moved) or after the commit:
    the restart completes that commit and moves the input on; it does not scrub it again."""
    (folders.work / "b.837").write_bytes(claims_file("B", 2, rejected=1))
    code = ("import sys; from scrubber.api import Options, scrub_to_dir; "
            "scrub_to_dir(sys.argv[1], sys.argv[2], options=Options(html=False))")
    env = {**os.environ, FAULT_ENV: killed_at or ""}
    proc = subprocess.run([sys.executable, "-c", code, str(folders.work / "b.837"), str(folders.outbox)], env=env,
                          capture_output=True, timeout=60)
    assert proc.returncode == (-signal.SIGKILL if killed_at else 0), proc.stderr
    staged = folders.outbox / ".b.scrubber-stage"
    before = {**_inodes(folders.outbox), **(_inodes(staged) if staged.exists() else {})}
    assert {"b.277", "b.accepted.837", "b.report.json", "b.worklist.csv"} <= set(before)
    assert (folders.outbox / "b.report.json").exists() == (killed_at is None)
    watcher(folders).resume()
    after = _inodes(folders.outbox)
    assert {k: after.get(k) for k in before if not k.startswith(".")} == {k: v for k, v in before.items()
                                                                         if not k.startswith(".")}
    assert (folders.processed / "b.837").exists() and not (folders.work / "b.837").exists()
    assert not [p for p in folders.outbox.iterdir() if p.name.startswith(".")]


def test_recover_an_unusable_input_at_each_step(folders: Folders) -> None:
    for name in ("d.837", "e.837", "f.837"):
        (folders.work / name).write_bytes(b"junk")
    (folders.notes / "d.837.error.txt").write_text("d.837: not X12\n")  # note written, nothing moved
    (folders.failed / "e.837.error.txt").write_text("e.837: not X12\n")  # note moved, input not
    (folders.notes / ".f.837.error.tmp").write_text("half")  # killed while writing the note: scrub again
    watcher(folders).resume()
    assert sorted(p.name for p in folders.failed.iterdir()) == [
        "d.837", "d.837.error.txt", "e.837", "e.837.error.txt", "f.837", "f.837.error.txt"]
    assert (folders.failed / "d.837.error.txt").read_text() == "d.837: not X12\n"
    assert "not X12" in (folders.failed / "f.837.error.txt").read_text()
    assert not [p for p in folders.work.iterdir() if p.is_file()] and not list(folders.notes.iterdir())


def test_an_outbox_that_cannot_take_outputs_keeps_the_input_claimed(folders: Folders, monkeypatch) -> None:
    import scrubber.service.watch as watch_module

    (folders.inbox / "g.837").write_bytes(claims_file("G", 1))
    w = watcher(folders)
    w.poll = 0.0
    real = watch_module.scrub_to_dir

    def full_disk(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(watch_module, "scrub_to_dir", full_disk)
    w.step()
    w.step()
    assert (folders.work / "g.837").exists() and not list(folders.failed.iterdir())
    assert not list(folders.outbox.iterdir())
    monkeypatch.setattr(watch_module, "scrub_to_dir", real)
    w._retry_at = 0.0  # RETRY seconds later
    w.step()
    assert (folders.processed / "g.837").exists() and (folders.outbox / "g.report.json").exists()


def test_a_vanished_outbox_is_waited_for(folders: Folders, monkeypatch) -> None:
    import shutil

    import scrubber.service.watch as watch_module

    monkeypatch.setattr(watch_module, "RETRY", 0.1)
    (folders.work / "h.837").write_bytes(claims_file("H", 1))
    (folders.work / "h.837").chmod(0)  # unreadable (only for a user without root's rights)
    lines: list[str] = []
    w = Watcher(folders, Options(html=False), poll=0.05, events=False, log=lines.append)
    shutil.rmtree(folders.outbox)
    folders.outbox.write_text("a file where OUTBOX was")
    stop = threading.Event()
    thread = threading.Thread(target=w.run, args=(stop,))
    thread.start()
    try:
        wait_for(lambda: any("retrying" in line for line in lines), timeout=10)
        assert (folders.work / "h.837").exists()  # still claimed: the output folder was at fault
        (folders.inbox / "i.837").write_bytes(claims_file("I", 2))
        folders.outbox.unlink()
        folders.outbox.mkdir()
        wait_for(lambda: (folders.outbox / "i.report.json").exists() and not (folders.work / "h.837").exists())
    finally:
        stop.set()
        w.wake.set()
        thread.join(10)
    if os.geteuid() != 0:
        assert (folders.failed / "h.837.error.txt").read_text() == "h.837: permission denied\n"
    else:
        assert (folders.processed / "h.837").exists()
    assert (folders.processed / "i.837").exists() and not thread.is_alive()
