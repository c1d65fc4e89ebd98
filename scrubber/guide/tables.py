"""pyx12's 837P map compiled into compact tables, built once and cached on disk.

pyx12 keeps the implementation guide as XML (``map/837.5010.X222.A1.xml``, with ``dataele.xml``
for data element types and lengths and ``codes.xml`` for external code lists) and walks it for
every segment. Here the same XML is read once with lxml into plain slotted objects: loops with
their children in position order, segments with their qualifier (how pyx12 tells two REFs
apart), elements as tuples of what is checked. The result is pickled in the user cache folder
under a key made of pyx12's version and a hash of the three files, so a new pyx12 rebuilds it;
an unwritable cache folder only means building in memory (about a second), never a failure.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scrubber.resources import cache_dir, cache_pickle

#: bump when the table layout or what is compiled changes: old cache files are then ignored
FORMAT = 5
MAP_FILE = "837.5010.X222.A1.xml"
CONTROL_FILE = "x12.control.00501.xml"
KEEP = 8  # cache files kept in the folder (pyx12 versions, checkouts of the scrubber: each one its own)
MAXINT = 2147483647


@dataclass(slots=True, eq=False)
class Elem:
    """One simple element (or a composite's component), as pyx12's element_if checks it."""

    refdes: str  # "NM103", "SV101-2" as pyx12 names it ("SV101" composite's children carry "SV101-2")
    seq: int
    ele_num: str  # data element number (IK402)
    name: str
    usage: str  # R, S or N
    dtype: str  # AN, ID, DT, TM, N0..N9, R
    min_len: int
    max_len: int
    codes: frozenset[str] | None = None  # the map's own list
    external: str | None = None  # a codes.xml list name
    regex: str | None = None
    #: for a 1251 (date time period) element: the 1250 codes before it in the segment (type list)
    type_list: tuple[str, ...] = ()
    first_code: str = ""  # the map's first code: pyx12 names duplicate paths after it


@dataclass(slots=True, eq=False)
class Comp:
    refdes: str
    seq: int
    ele_num: str
    name: str
    usage: str
    parts: tuple[Elem, ...]


@dataclass(slots=True, eq=False)
class Seg:
    index: int
    id: str
    name: str
    usage: str
    pos: int
    max_use: int
    parent: Loop | None
    loop_id: str  # xid of the enclosing loop, for messages and placement
    slot: int  # counter slot (pyx12 counts by path; same path, same count)
    #: how pyx12 matches this node to a segment: (where, codes) with where "e1" (element 01),
    #: "c1" (component 01-1) or "hl3" (HL03); None when the segment id alone decides
    key: tuple[str, frozenset[str]] | None
    elements: tuple[Elem | Comp, ...] = ()
    syntax: tuple[tuple[str, tuple[int, ...]], ...] = ()
    #: a correction to matching (see _correct): when element 01 is refine[0], element refine[1]
    #: must be one of refine[2] for this node to match
    refine: tuple[str, int, frozenset[str]] | None = None


@dataclass(slots=True, eq=False)
class Loop:
    index: int
    id: str
    name: str
    usage: str
    pos: int
    max_repeat: int
    parent: Loop | None
    slot: int
    #: children in pyx12's scan order: sorted by position, file order within a position
    children: list[Loop | Seg] = field(default_factory=list)
    #: counter slots beneath this loop: [start, end), reset when the loop repeats
    below: tuple[int, int] = (0, 0)

    @property
    def first(self) -> Loop | Seg | None:
        return self.children[0] if self.children else None


@dataclass(slots=True)
class Tables:
    root: Loop  # the map's transaction node, as a loop without usage
    segments: list[Seg]
    loops: list[Loop]
    external: dict[str, frozenset[str]]
    slots: int
    source: str  # "pyx12 4.0.0, map sha256 ..." for messages and the report
    #: segment ids matched by a qualifier somewhere, and which: {"NM1": ("e1",), "SV1": ("c1",)}
    key_kinds: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: ISA and GS as pyx12 checks them: from its control map, not the transaction map
    control: dict[str, Seg] = field(default_factory=dict)
    #: where these tables knowingly differ from pyx12's map, and why
    corrections: list[str] = field(default_factory=list)

    def by_path(self, *ids: str) -> Loop | Seg:
        node: Any = self.root
        for name in ids:
            node = next(c for c in node.children if c.id == name)
        return node


def _text(el: Any, name: str) -> str | None:
    value = el.get(name)
    return value if value else el.findtext(name)


def _usage(el: Any) -> str:
    return (_text(el, "usage") or "S").strip()


def _repeat(text: str | None) -> int:
    if text is None or text in (">1", "&gt;1"):
        return MAXINT
    return int(text)


class _Compiler:
    def __init__(self, dataele: dict[str, tuple[str, int, int, str]], codes: dict[str, frozenset[str]]) -> None:
        self.dataele = dataele
        self.all_codes = codes
        self.external: dict[str, frozenset[str]] = {}
        self.segments: list[Seg] = []
        self.loops: list[Loop] = []
        self.slot_of: dict[str, int] = {}

    def slot(self, path: str) -> int:
        if path not in self.slot_of:
            self.slot_of[path] = len(self.slot_of)
        return self.slot_of[path]

    def element(self, el: Any, type_list: tuple[str, ...]) -> Elem:
        ele_num = _text(el, "data_ele") or ""
        dtype, lo, hi, _name = self.dataele.get(ele_num, ("AN", 1, MAXINT, ""))
        codes = None
        external = None
        listed: list[str] = []
        valid = el.find("valid_codes")
        if valid is not None:
            external = valid.get("external")
            listed = [c.text or "" for c in valid.findall("code")]
            codes = frozenset(listed)
            if external is not None:
                self.external[external] = self.all_codes.get(external, frozenset())
        return Elem(el.get("xid") or "", int(_text(el, "seq") or 0), ele_num, _text(el, "name") or "", _usage(el),
                    dtype, lo, hi, codes, external, _text(el, "regex") or None,
                    type_list if ele_num == "1251" else (), listed[0] if listed else "")

    def segment(self, el: Any, parent: Loop, path: str, duplicate_pos: bool) -> Seg:
        sid = el.get("xid") or ""
        by_seq: dict[int, Any] = {}
        for child in [*el.findall("element"), *el.findall("composite")]:
            by_seq[int(_text(child, "seq") or 0)] = child
        elements: list[Elem | Comp] = []
        type_list: tuple[str, ...] = ()
        for seq in sorted(by_seq):
            child = by_seq[seq]
            if child.tag == "composite":
                parts = tuple(self.element(sub, ()) for sub in child.findall("element"))
                elements.append(Comp(child.get("xid") or "", seq, _text(child, "data_ele") or "",
                                     _text(child, "name") or "", _usage(child), parts))
            else:
                elem = self.element(child, type_list)
                if elem.ele_num == "1250":
                    type_list = (*type_list, *[c for c in sorted(elem.codes or ())])
                elements.append(elem)
        key = _match_key(sid, elements, with_ctx=False)
        name = sid
        if duplicate_pos:
            guess = _match_key(sid, elements, with_ctx=False, guess=True)
            if guess is not None:
                name = f"{sid}[{guess[2]}]"
        syntax = []
        for s in el.findall("syntax"):
            text = (s.text or "").strip()
            if text and text[0] in "PRCLE":
                syntax.append((text[0], tuple(int(text[i:i + 2]) for i in range(1, len(text) - 1, 2))))
        seg = Seg(len(self.segments), sid, _text(el, "name") or "", _usage(el), int(_text(el, "pos") or 0),
                  _repeat(_text(el, "max_use")), parent, parent.id, self.slot(f"{path}/{name}"),
                  (key[0], key[1]) if key else None, tuple(elements), tuple(syntax))
        self.segments.append(seg)
        return seg

    def loop(self, el: Any, parent: Loop | None, path: str) -> Loop:
        lid = el.get("xid") or ""
        here = f"{path}/{lid}" if path != "/" else f"/{lid}"
        loop = Loop(len(self.loops), lid, _text(el, "name") or "", _usage(el), int(_text(el, "pos") or 0),
                    _repeat(_text(el, "repeat")), parent, self.slot(here))
        self.loops.append(loop)
        self.fill(loop, el, here)
        return loop

    def fill(self, loop: Loop, el: Any, here: str) -> None:
        start = len(self.slot_of)
        by_pos: dict[int, list[Any]] = {}
        # pyx12 files loops first, then segments, under each position (dict insertion order)
        for child in [*el.findall("loop"), *el.findall("segment")]:
            by_pos.setdefault(int(_text(child, "pos") or 0), []).append(child)
        for pos in sorted(by_pos):
            group = by_pos[pos]
            for child in group:
                if child.tag == "loop":
                    loop.children.append(self.loop(child, loop, here))
                else:
                    loop.children.append(self.segment(child, loop, here, len(group) > 1))
        loop.below = (start, len(self.slot_of))


def _match_key(sid: str, elements: list[Elem | Comp], *, with_ctx: bool,
               guess: bool = False) -> tuple[str, frozenset[str], str] | None:
    """Where pyx12 reads a segment's qualifier (segment_if._resolve_unique_key_field).

    With ``guess`` the rule of guess_unique_key_id_element (which names duplicate paths): element
    01 need not be required there.
    """
    c0 = elements[0] if elements else None
    c2 = elements[2] if len(elements) > 2 else None
    if isinstance(c0, Elem) and c0.dtype == "ID" and (guess or c0.usage == "R") and c0.codes:
        return ("e1", c0.codes, c0.first_code)
    if isinstance(c0, Comp) and c0.parts and c0.parts[0].dtype == "ID" and c0.parts[0].codes:
        return ("c1", c0.parts[0].codes, c0.parts[0].first_code)
    if sid == "HL" and isinstance(c2, Elem) and c2.codes:
        return ("hl3", c2.codes, c2.first_code)
    return None


def _map_dir() -> Path:
    """pyx12's map folder, found without importing pyx12 (the default path never runs it)."""
    import importlib.util

    spec = importlib.util.find_spec("pyx12")
    if spec is None or not spec.submodule_search_locations:
        raise OSError("pyx12 is not installed: its maps are where the validator comes from")
    return Path(next(iter(spec.submodule_search_locations))) / "map"


def _pyx12_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pyx12")
    except PackageNotFoundError:
        return "unknown"


_IDENTITIES: dict[tuple[tuple[str, int, int], ...], str] = {}


def _identity(folder: Path) -> str:
    """pyx12's version and the map files' hash, and this module's: a changed compiler never reads an old cache.

    Worked out once per process for the files as they are (size and time stamp): each
    validator (one per input, one per piece of a split run) asks again, and a new pyx12 comes
    with new map files. Asking the package's metadata for its version costs a millisecond.
    """
    files = [Path(__file__), *(folder / name for name in (MAP_FILE, CONTROL_FILE, "dataele.xml", "codes.xml"))]
    stamp = tuple((str(f), st.st_size, st.st_mtime_ns) for f in files for st in [f.stat()])
    found = _IDENTITIES.get(stamp)
    if found is None:
        h = hashlib.sha256(files[0].read_bytes())
        for f in files[1:]:
            h.update(f.name.encode())
            h.update(f.read_bytes())
        found = _IDENTITIES[stamp] = f"pyx12-{_pyx12_version()}-{h.hexdigest()[:16]}"
    return found


def compile_tables(folder: Path | None = None) -> Tables:
    """Read the map, data elements and code lists with lxml into Tables."""
    from lxml import etree

    folder = folder or _map_dir()
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True)
    dataele = {
        d.get("ele_num"): (d.get("data_type") or "AN", int(d.get("min_len") or 0), int(d.get("max_len") or 0),
                           d.get("name") or "")
        for d in etree.parse(str(folder / "dataele.xml"), parser).iter("data_ele")
    }
    codes = {
        (cs.findtext("id") or "").strip(): frozenset(c.text or "" for c in cs.iterfind("version/code"))
        for cs in etree.parse(str(folder / "codes.xml"), parser).iter("codeset")
    }
    root_el = etree.parse(str(folder / MAP_FILE), parser).getroot()
    comp = _Compiler(dataele, codes)
    root = Loop(-1, root_el.get("xid") or "", root_el.findtext("name") or "", "R", 0, 1, None, comp.slot("/"))
    comp.fill(root, root_el, "/")
    key_kinds: dict[str, set[str]] = {}
    for seg in comp.segments:
        if seg.key is not None:
            key_kinds.setdefault(seg.id, set()).add(seg.key[0])
    control = _Compiler(dataele, codes)
    control_root = Loop(-1, "", "", "R", 0, 1, None, control.slot("/"))
    control.fill(control_root, etree.parse(str(folder / CONTROL_FILE), parser).getroot(), "/")
    corrections = _correct(comp.loops)
    return Tables(root, comp.segments, comp.loops, {**comp.external, **control.external}, len(comp.slot_of),
                  f"pyx12 {_pyx12_version()} ({MAP_FILE})",
                  {k: tuple(sorted(v)) for k, v in key_kinds.items()},
                  {s.id: s for s in control.segments if s.id in ("ISA", "GS")}, corrections)


def _correct(loops: list[Loop]) -> list[str]:
    """The map's known departures from the TR3, put right (each one listed in the README).

    Loop 2400 has two PWK segments, and the TR3 lists CT in the PWK01 codes of both: line
    supplemental information (PWK02 AA, BM, EL, EM, FT, FX) and the certificate of medical
    necessity indicator (PWK02 AB, AD, AF, AG, NS). pyx12 takes a PWK*CT for the first one
    always, so PWK*CT*AD is refused although the TR3 allows it. Here a PWK*CT is the first one
    only when its PWK02 is one of the first one's codes; otherwise it is the second one.
    """
    done: list[str] = []
    for loop in loops:
        if loop.id != "2400":
            continue
        pwks = [c for c in loop.children if isinstance(c, Seg) and c.id == "PWK" and c.key is not None]
        with_ct = [p for p in pwks if "CT" in p.key[1]]  # type: ignore[index]
        if len(with_ct) == 2:
            first = with_ct[0]
            pwk02 = first.elements[1] if len(first.elements) > 1 else None
            if isinstance(pwk02, Elem) and pwk02.codes:
                first.refine = ("CT", 2, pwk02.codes)
                done.append("2400 PWK*CT: the line supplemental information PWK when PWK02 is one of its codes, "
                            "else the certificate of medical necessity PWK (pyx12 always takes the first)")
    return sorted(set(done))


def _cache_file() -> tuple[Path, str]:
    folder = _map_dir()
    key = f"guide-{FORMAT}-{_identity(folder)}"
    return cache_dir() / f"{key}.pickle", key


_LOADED: dict[str, Tables] = {}


def load_tables() -> Tables:
    """The compiled tables: from this process's memory, the disk cache, or built (and cached)."""
    try:
        path, key = _cache_file()
    except OSError:
        path, key = None, "uncached"
    if key in _LOADED:
        return _LOADED[key]
    tables = None
    if path is not None:
        try:
            with open(path, "rb") as fh:
                tables = pickle.load(fh)
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, TypeError, ValueError):
            tables = None
    if tables is None:
        tables = compile_tables()
        if path is not None:
            # the newest few kept: several pyx12 versions and checkouts may share the folder
            cache_pickle(path, tables, KEEP)
    _LOADED[key] = tables
    return tables
