"""pyx12 as the test oracle for every 837 and 277CA the scrubber writes.

The 277CA is checked against pyx12's X214 map with the two TR3 corrections described in
shared/domain/x12-837p-277ca-pyx12.md (2200C situational, 2220D STC02 not used), applied here to
a copy of the installed map folder; the README says why.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import shutil
import tempfile
from pathlib import Path

import pyx12
import pyx12.map_if
import pyx12.params
import pyx12.x12n_document
from lxml import etree

logging.getLogger("pyx12").setLevel(logging.CRITICAL)

# pyx12 parses its 1 MB map on every call (about 0.4 s); the tests validate hundreds of documents.
# Caching by (map file, map folder) gave identical results in the research notes, and
# test_oracle.py checks that broken documents still fail after caching.
_load_map_file = pyx12.map_if.load_map_file
_maps: dict[tuple[str, str | None], object] = {}


def _cached_load_map_file(map_file, param, map_path=None):  # type: ignore[no-untyped-def]
    key = (map_file, map_path)
    if key not in _maps:
        _maps[key] = _load_map_file(map_file, param, map_path)
    return _maps[key]


pyx12.map_if.load_map_file = _cached_load_map_file


@functools.cache
def patched_map_dir() -> str:
    src = Path(pyx12.__file__).parent / "map"
    dst = Path(tempfile.mkdtemp(prefix="scrubber-pyx12-map-")) / "map"
    shutil.copytree(src, dst)
    path = dst / "277.5010.X214.xml"
    tree = etree.parse(str(path))
    loop = tree.xpath("//loop[@xid='2200C']")
    assert len(loop) == 1, "pyx12 X214 map changed: 2200C not found"
    loop[0].find("usage").text = "S"
    stc02 = tree.xpath("//loop[@xid='2220D']/segment[@xid='STC']/element[@xid='STC02']")
    assert len(stc02) == 1, "pyx12 X214 map changed: 2220D STC02 not found"
    stc02[0].find("usage").text = "N"
    tree.write(str(path), xml_declaration=True, encoding="utf-8")
    return str(dst)


def _errors(node: dict, where: str = "") -> list[str]:
    out = []
    for err in node.get("errors", []):
        out.append(f"{where}{err.get('err_cde', '')} {err.get('err_str', '')}")
    for key in ("interchanges", "groups", "transactions", "segments", "elements"):
        for child in node.get(key, []):
            label = child.get("seg_id") or child.get("trn_set_control_num") or ""
            out += _errors(child, f"{where}{label}:" if label else where)
    return out


def text_of(document: str | bytes) -> str:
    """The API gives X12 outputs as bytes (one character per byte, as the scrubber reads them)."""
    return document.decode("latin-1") if isinstance(document, bytes) else document


def validate(text: str | bytes, *, patched: bool = False) -> tuple[bool, list[str], str]:
    """(ok, errors, 999) for an X12 document given as text or bytes."""
    text = text_of(text)
    param = pyx12.params.params()
    fd_997, fd_json = io.StringIO(), io.StringIO()
    ok = pyx12.x12n_document.x12n_document(
        param=param,
        src_file=io.StringIO(text),
        fd_997=fd_997,
        fd_html=None,
        fd_xmldoc=None,
        fd_json=fd_json,
        map_path=patched_map_dir() if patched else None,
    )
    raw = fd_json.getvalue()
    errors = _errors(json.loads(raw)) if raw.strip() else []
    if not ok and not errors:
        errors = ["pyx12 refused the document without a listed error (not X12?)"]
    return bool(ok) and not errors, errors, fd_997.getvalue()


def interchanges(text: str | bytes) -> list[str]:
    """Each ISA ... IEA of a document on its own: pyx12 reads a whole file with the first ISA's
    delimiters, so a later interchange with other delimiters would go unchecked."""
    text = text_of(text)
    out, start = [], text.find("ISA")
    while start >= 0:
        nxt = text.find("ISA", start + 106)
        while nxt >= 0 and text[nxt - 1] not in text[start + 105] + "\r\n":
            nxt = text.find("ISA", nxt + 1)  # "ISA" inside a value, not after a terminator
        out.append(text[start:nxt] if nxt >= 0 else text[start:])
        start = nxt
    return out or [text]


def assert_valid_277(text: str | bytes) -> None:
    for part in interchanges(text):
        ok, errors, _ = validate(part, patched=True)
        assert ok, "277CA does not validate:\n" + "\n".join(errors)


def as_x222a1(text: str | bytes) -> str:
    """pyx12 maps only 005010X222A1; X222 and X222A2 files are checked as A1."""
    return text_of(text).replace("005010X222A2", "005010X222A1").replace("*005010X222~", "*005010X222A1~")


def _what(error: str) -> str:
    return error.rsplit(":", 1)[-1].split(" ", 1)[-1] if ":" in error else error


def assert_valid_837(text: str | bytes, *, baseline: str | bytes | None = None) -> None:
    """The accepted 837 validates; with ``baseline`` (the input), it adds no error the input lacked."""
    ok, errors, _ = validate(as_x222a1(text))
    if baseline is not None and not ok:
        _ok, known, _ = validate(as_x222a1(baseline))
        known_what = {_what(e) for e in known}
        errors = [e for e in errors if _what(e) not in known_what]
        ok = not errors
    assert ok, "accepted 837 does not validate:\n" + "\n".join(errors)


def assert_valid_999(text: str) -> None:
    """A 999 the scrubber wrote validates under pyx12's 005010X231A1 map."""
    ok, errors, _ = validate(text)
    assert ok, "999 does not validate:\n" + "\n".join(errors)
