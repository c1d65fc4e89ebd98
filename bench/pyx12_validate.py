"""pyx12's own full validation of one file: ``python bench/pyx12_validate.py FILE``.

What ``bench/run.py`` times as the baseline, and how a generated file is checked for compliance:
x12n_document with the 999 written to memory and errors collected through the JSON visitor.
Prints the errors (at most 20) and a summary; exits 0 only when pyx12 finds none.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from typing import Any

import pyx12.params
import pyx12.x12n_document


def errors(node: Any, where: str = "") -> Iterator[str]:
    """Flatten pyx12's JSON error tree (interchanges > groups > transactions > segments > elements)."""
    if isinstance(node, list):
        for item in node:
            yield from errors(item, where)
        return
    if not isinstance(node, dict):
        return
    if node.get("seg_id"):
        where = f"{node['seg_id']}@line {node.get('cur_line')}"
    elif node.get("ele_pos") is not None:
        where = f"{where} element {node['ele_pos']}"
    for err in node.get("errors", []):
        yield f"{where or 'envelope'}: [{err.get('err_cde')}] {err.get('err_str')}"
    for key, value in node.items():
        if key != "errors" and isinstance(value, list):
            yield from errors(value, where)


def validate(path: str) -> tuple[bool, list[str], str]:
    fd_999, fd_json = io.StringIO(), io.StringIO()
    # An open text handle: given a path, pyx12 opens it as ASCII and stops at the first high byte.
    with open(path, encoding="latin-1") as src:
        ok = pyx12.x12n_document.x12n_document(
            param=pyx12.params.params(),
            src_file=src,
            fd_997=fd_999,
            fd_html=None,
            fd_xmldoc=None,
            fd_json=fd_json,
            map_path=None,
        )
    tree = json.loads(fd_json.getvalue() or "[]")
    return bool(ok), list(errors(tree)), fd_999.getvalue()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    ok, found, ack = validate(args[0])
    for line in found[:20]:
        print(line)
    ak9 = next((s for s in ack.replace("\n", "").split("~") if s.startswith("AK9")), "no AK9")
    print(f"pyx12: {'OK' if ok else 'FAILED'}, {len(found)} errors, 999 {ak9}")
    return 0 if ok and not found else 1


if __name__ == "__main__":
    sys.exit(main())
