"""Reading the packs' YAML through the parsed-document cache: the same documents as parsing, an
edit read at once, a damaged or unwritable cache never an error, and a start that loads neither
PyYAML nor what only other runs need."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import FIXTURES, ROOT

from scrubber import resources
from scrubber.resources import edits_dir, read_yaml


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "scrubber"


def _no_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("parsed although the cache holds the document")

    monkeypatch.setattr(yaml, "load", refuse)


def test_every_bundled_file_reads_the_same_from_the_cache(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = sorted(edits_dir().rglob("*.yaml"))
    assert len(files) >= 7  # the packs and the payer registry
    fresh = {f: yaml.load(f.read_text(encoding="utf-8"), Loader=yaml.SafeLoader) for f in files}
    first = {f: read_yaml(f) for f in files}
    assert first == fresh
    assert len(list(cache.glob("yaml-*.pickle"))) == len({f.read_bytes() for f in files})
    _no_parsing(monkeypatch)
    again = {f: read_yaml(f) for f in files}
    assert again == fresh  # a date read as a string would differ here: the packs hold dates
    assert any(isinstance(v, dt.date) for doc in fresh.values() for v in _leaves(doc))


def _leaves(value: object) -> list[object]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def test_an_edit_is_read_at_once(cache: Path, tmp_path: Path) -> None:
    doc = tmp_path / "pack.yaml"
    doc.write_text("edits:\n  - id: A\n", encoding="utf-8")
    assert read_yaml(doc) == {"edits": [{"id": "A"}]}
    doc.write_text("edits:\n  - id: B\n", encoding="utf-8")
    assert read_yaml(doc) == {"edits": [{"id": "B"}]}
    assert len(list(cache.glob("yaml-*.pickle"))) == 2


def test_the_cached_copy_is_a_new_object_each_time(cache: Path, tmp_path: Path) -> None:
    doc = tmp_path / "pack.yaml"
    doc.write_text("rows: [1, 2]\n", encoding="utf-8")
    read_yaml(doc)["rows"].append(3)  # a caller that changes what it got
    assert read_yaml(doc) == {"rows": [1, 2]}
    read_yaml(doc)["rows"].append(3)
    assert read_yaml(doc) == {"rows": [1, 2]}


def test_a_damaged_cache_file_is_parsed_over(cache: Path, tmp_path: Path) -> None:
    doc = tmp_path / "pack.yaml"
    doc.write_text("day: 2026-01-01\n", encoding="utf-8")
    read_yaml(doc)
    (cached,) = cache.glob("yaml-*.pickle")
    for damage in (b"", b"not a pickle", cached.read_bytes()[:10]):
        cached.write_bytes(damage)
        assert str(read_yaml(doc)["day"]) == "2026-01-01"
        assert cached.read_bytes() != damage  # written again


def test_a_cache_folder_that_cannot_be_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    doc = tmp_path / "pack.yaml"
    doc.write_text("a: 1\n", encoding="utf-8")
    assert read_yaml(doc) == {"a": 1}
    assert read_yaml(doc) == {"a": 1}


def test_old_cache_files_go(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resources, "YAML_KEEP", 2)
    doc = tmp_path / "pack.yaml"
    for i in range(5):
        doc.write_text(f"a: {i}\n", encoding="utf-8")
        read_yaml(doc)
        stamp = 1_700_000_000 + i
        for f in cache.glob("yaml-*.pickle"):
            if f.stat().st_mtime > stamp:
                os.utime(f, (stamp, stamp))
    assert len(list(cache.glob("yaml-*.pickle"))) == 2
    assert read_yaml(doc) == {"a": 4}


def test_errors_are_not_cached(cache: Path, tmp_path: Path) -> None:
    doc = tmp_path / "pack.yaml"
    doc.write_text("a: [\n", encoding="utf-8")
    with pytest.raises(resources.yaml_errors()):
        read_yaml(doc)
    doc.write_bytes(b"a: \xff\n")
    with pytest.raises(UnicodeDecodeError):
        read_yaml(doc)
    assert not list(cache.glob("yaml-*.pickle"))


def test_a_plain_scrub_loads_only_what_it_needs(tmp_path: Path) -> None:
    """PyYAML once the cache is warm, lxml without --html, and the process pool with one job: each
    costs 8-15 ms of every start, where an export hook runs the scrubber once per file."""
    script = (
        "import sys\n"
        "from scrubber.cli import main\n"
        "rc = main(['scrub', sys.argv[1], '-o', sys.argv[2], '--no-html'])\n"
        "heavy = ('yaml', 'lxml.etree', 'concurrent.futures', 'multiprocessing')\n"
        "print('loaded:', *[m for m in heavy if m in sys.modules])\n"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    loaded = []
    for i in range(2):
        done = subprocess.run([sys.executable, "-c", script, str(FIXTURES / "mixed.837"), str(tmp_path / f"o{i}")],
                              capture_output=True, text=True, env=env, cwd=ROOT, check=True)
        loaded.append(done.stdout.rsplit("loaded:", 1)[1].split())
    assert "yaml" in loaded[0]  # the first start parses (and the guide's tables are built with lxml)
    assert loaded[1] == []
