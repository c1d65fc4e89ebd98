"""Synthetic 837P files from plain dicts: test cases, fixtures and benchmark inputs.

Everything here is invented data (names, NPIs, member ids). The shape follows 005010X222A1 so that
pyx12 validates what it writes; tests use ``raw`` overrides to break exactly one thing.

A claim spec (all keys optional)::

    {"id": "PCN1", "charge": "150.00", "dos": "2025-01-10", "dx": ["G24.3", "BF:7231"],
     "prior_auth": "PA123", "segments": ["NTE*ADD*free text"],
     "lines": [{"code": "64616", "mods": ["RT"], "charge": "100.00", "units": "1",
                "ptr": "1", "dos": "2025-01-10", "ref6r": "L1", "ndc": "00023114501",
                "ndc_qty": "100", "ndc_unit": "UN", "sv1": "SV1*...raw...", "dtp": "DTP*...raw...",
                "segments": ["NM1*82*1*LINE*DOC****XX*1234567893"]}]}

Subscriber / payer / patient keys sit on the claim too: ``payer_id``, ``payer_name``, ``sbr09``,
``member_id``, ``last``, ``first``, ``dependent`` ({"last": ..., "first": ...}); ``rendering_npi`` (2310B).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

Spec = dict[str, Any]


def _d8(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.strftime("%Y%m%d")
    text = str(value)
    return text.replace("-", "") if len(text) == 10 and text[4] == "-" else text


def _dx_composites(dx: Sequence[str], icd9: bool) -> list[str]:
    out = []
    for i, code in enumerate(dx):
        if ":" in code:
            out.append(code)
            continue
        qual = ("BK" if i == 0 else "BF") if icd9 else ("ABK" if i == 0 else "ABF")
        out.append(f"{qual}:{code.replace('.', '')}")
    return out


def claim_segments(spec: Spec) -> list[str]:
    """Segments of one 2300 loop and its lines, with ':' as component separator."""
    lines = spec.get("lines") or [{"code": "99213", "charge": "100.00"}]
    total = sum(Decimal(str(ln.get("charge", "100.00"))) for ln in lines if ln.get("sv1") is None)
    charge = spec.get("charge", f"{total:.2f}")
    segs = [spec.get("clm") or f"CLM*{spec.get('id', 'PCN0001')}*{charge}***{spec.get('pos', '11')}:B:1*Y*A*Y*Y"]
    if spec.get("dos"):
        segs.append(f"DTP*472*D8*{_d8(spec['dos'])}")
    if spec.get("prior_auth"):
        segs.append(f"REF*G1*{spec['prior_auth']}")
    segs.append(f"REF*D9*{spec.get('trace', 'TRACE' + str(spec.get('id', '1')))}")
    dx = spec.get("dx", ["G24.3"])
    if spec.get("hi") is not None:
        if spec["hi"]:
            segs.append(spec["hi"])
    elif dx:
        segs.append("HI*" + "*".join(_dx_composites(dx, bool(spec.get("icd9")))))
    segs.extend(spec.get("segments", []))
    segs.append(f"NM1*82*1*RENDER*RITA****XX*{spec.get('rendering_npi', '1234567893')}")
    segs.append("PRV*PE*PXC*2084N0400X")
    for i, ln in enumerate(lines, start=1):
        segs.append(f"LX*{ln.get('lx', i)}")
        if ln.get("sv1") is not None:
            segs.append(ln["sv1"])
        else:
            proc = ":".join(["HC", str(ln.get("code", "99213")), *ln.get("mods", [])])
            ptr = ln.get("ptr", "1")
            if isinstance(ptr, list):
                ptr = ":".join(str(p) for p in ptr)
            segs.append(
                f"SV1*{proc}*{ln.get('charge', '100.00')}*{ln.get('basis', 'UN')}*{ln.get('units', '1')}***{ptr}"
            )
        if "dtp" in ln:
            if ln["dtp"]:
                segs.append(ln["dtp"])
        elif ln.get("dos", spec.get("line_dos", "2025-01-10" if not spec.get("dos") else None)):
            segs.append(f"DTP*472*D8*{_d8(ln.get('dos', spec.get('line_dos', '2025-01-10')))}")
        if ln.get("ref6r"):
            segs.append(f"REF*6R*{ln['ref6r']}")
        if ln.get("prior_auth"):
            segs.append(f"REF*G1*{ln['prior_auth']}")
        if ln.get("ndc") is not None or ln.get("lin"):
            segs.append(ln.get("lin") or f"LIN**N4*{ln['ndc']}")
            if ln.get("ctp", True):
                segs.append(ln.get("ctp_raw") or f"CTP****{ln.get('ndc_qty', '1')}*{ln.get('ndc_unit', 'UN')}")
        segs.extend(ln.get("segments", []))  # e.g. a 2420A NM1*82 of the line's own rendering provider
    return segs


def _subscriber_segments(spec: Spec, hl: int, parent: int, children: bool) -> list[str]:
    dependent = spec.get("dependent")
    rel = "" if dependent else "18"
    segs = [
        f"HL*{hl}*{parent}*22*{1 if children else 0}",
        f"SBR*{spec.get('sequence', 'P')}*{rel}*GRP01******{spec.get('sbr09', 'CI')}",
        f"NM1*IL*1*{spec.get('last', 'DOE')}*{spec.get('first', 'JANE')}****MI*{spec.get('member_id', 'W123456789')}",
    ]
    if not dependent:
        segs += ["N3*1 MAIN ST", "N4*SPRINGFIELD*IL*62701", "DMG*D8*19600101*F"]
    segs.append(f"NM1*PR*2*{spec.get('payer_name', 'EXAMPLE HEALTH PLAN')}*****PI*{spec.get('payer_id', 'EHP01')}")
    return segs


def transaction_segments(
    claims: Iterable[Spec],
    *,
    control: str = "0001",
    bht03: str = "BATCH0001",
    bht04: str = "20250201",
    billing_npi: str = "1234567893",
    claims_per_billing: int = 0,
    hl_start: int = 1,
) -> list[str]:
    """ST ... SE around the given claims.

    Consecutive claims with the same subscriber (``member_id`` and ``dependent``) share a 2000B
    (and 2000C); ``claims_per_billing`` > 0 starts a new 2000A every that many claims.
    """
    segs = [
        f"ST*837*{control}*005010X222A1",
        f"BHT*0019*00*{bht03}*{bht04}*1200*CH",
        "NM1*41*2*EXAMPLE BILLING SERVICE*****46*SUBMIT01",
        "PER*IC*HELP DESK*TE*5555550100",
        "NM1*40*2*EXAMPLE CLEARINGHOUSE*****46*SCRUB01",
    ]
    hl = hl_start - 1
    billing_hl = sub_hl = 0
    n_in_billing = 0
    last_key: Any = None
    claims = list(claims)
    for spec in claims:
        if billing_hl == 0 or (claims_per_billing and n_in_billing >= claims_per_billing):
            hl += 1
            billing_hl = hl
            n_in_billing = 0
            last_key = None
            segs += [
                f"HL*{hl}**20*1",
                "PRV*BI*PXC*2084N0400X",
                f"NM1*85*2*EXAMPLE NEUROLOGY GROUP*****XX*{spec.get('billing_npi', billing_npi)}",
                "N3*100 CLINIC WAY",
                "N4*SPRINGFIELD*IL*62701",
                "REF*EI*123456789",
            ]
        n_in_billing += 1
        dependent = spec.get("dependent")
        key = (
            spec.get("member_id", "W123456789"),
            spec.get("payer_id"),
            spec.get("sbr09"),
            repr(dependent),
            spec.get("last"),
        )
        if key != last_key:
            hl += 1
            sub_hl = hl
            segs += _subscriber_segments(spec, hl, billing_hl, bool(dependent))
            if dependent:
                hl += 1
                segs += [
                    f"HL*{hl}*{sub_hl}*23*0",
                    f"PAT*{dependent.get('relationship', '19')}",
                    f"NM1*QC*1*{dependent.get('last', 'DOE')}*{dependent.get('first', 'JIMMY')}",
                    "N3*1 MAIN ST",
                    "N4*SPRINGFIELD*IL*62701",
                    "DMG*D8*20100101*M",
                ]
            last_key = key
        segs += claim_segments(spec)
    segs.append(f"SE*{len(segs) + 1}*{control}")
    return segs


def interchange(
    transactions: Sequence[list[str]],
    *,
    control: int = 1,
    gs_date: str = "20250201",
    sep: str = "*",
    comp: str = ":",
    rep: str = "^",
    term: str = "~",
    newline: str = "\n",
    sender: str = "SUBMIT01",
    receiver: str = "SCRUB01",
    version: str = "005010X222A1",
    isa_date: str | None = None,
) -> str:
    """ISA/GS/.../GE/IEA around transactions written with '*' and ':'; delimiters swapped in.

    ISA09 is GS04 without its century unless ``isa_date`` (YYMMDD) is given.
    """
    gs = _d8(gs_date)
    isa = (
        f"ISA*00*{'':10}*00*{'':10}*ZZ*{sender:<15}*ZZ*{receiver:<15}*{isa_date or gs[2:]}*1200*{rep}*00501*"
        f"{control:09d}*0*T*{comp}"
    )
    body = [f"GS*HC*{sender}*{receiver}*{gs}*1200*{control}*X*{version}"]
    for t in transactions:
        body += [s.replace("005010X222A1", version) if s.startswith("ST*") else s for s in t]
    body += [f"GE*{len(transactions)}*{control}", f"IEA*1*{control:09d}"]

    def swap(s: str) -> str:
        if sep == "*" and comp == ":":
            return s
        return s.replace("*", "\0").replace(":", "\1").replace("\0", sep).replace("\1", comp)

    out = [isa.replace("*", sep)[:-1] + comp if sep != "*" else isa]
    out += [swap(s) for s in body]
    return "".join(s + term + newline for s in out)


def file_837(claims: Sequence[Spec], **kw: Any) -> str:
    """A whole 837P file (one ISA, GS, ST) holding the given claims."""
    ix_keys = {"control", "gs_date", "sep", "comp", "rep", "term", "newline", "sender", "receiver", "version",
               "isa_date"}
    ix = {k: v for k, v in kw.items() if k in ix_keys}
    tx = {k: v for k, v in kw.items() if k not in ix_keys}
    if "gs_date" in ix and "bht04" not in tx:
        tx["bht04"] = _d8(ix["gs_date"])  # one creation date unless a case sets them apart
    return interchange([transaction_segments(claims, **tx)], **ix)
