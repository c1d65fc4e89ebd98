"""Memory does not grow with file size: ten times the claims, about the same peak RSS."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from scrubber.synth import interchange, transaction_segments

_MEASURE = """
import resource, sys
from scrubber.api import Options, scrub_to_dir
summary = scrub_to_dir(sys.argv[1], sys.argv[2], options=Options(html=True))
print(summary.claims, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _write(path: Path, n: int) -> None:
    # 2,000 claims per ST, every tenth out of balance, a third of them dependents.
    with open(path, "w", encoding="latin-1", newline="") as fh:
        txns = []
        for st in range(n // 2000):
            claims = [{"id": f"S{st}-{i}", "member_id": f"M{st}-{i}", "charge": "1.00" if i % 10 == 0 else "100.00",
                       "dependent": {"first": "KID"} if i % 3 == 0 else None,
                       "lines": [{"code": "99213", "charge": "100.00"}]} for i in range(2000)]
            txns.append(transaction_segments(claims, control=f"{st + 1:04d}", claims_per_billing=500))
        fh.write(interchange(txns))


def _peak_kib(path: Path, out: Path) -> tuple[int, int]:
    proc = subprocess.run([sys.executable, "-c", _MEASURE, str(path), str(out)], capture_output=True, text=True,
                          check=True, timeout=600)
    claims, rss = proc.stdout.split()
    return int(claims), int(rss)


def test_peak_memory_is_flat_in_file_size(tmp_path: Path) -> None:
    small, large = tmp_path / "small.837", tmp_path / "large.837"
    _write(small, 4000)
    _write(large, 40000)
    n_small, rss_small = _peak_kib(small, tmp_path / "a")
    n_large, rss_large = _peak_kib(large, tmp_path / "b")
    assert (n_small, n_large) == (4000, 40000)
    growth_mib = (rss_large - rss_small) / 1024
    file_growth_mib = (large.stat().st_size - small.stat().st_size) / (1 << 20)
    assert file_growth_mib > 10
    # Holding the file, or a per-claim structure, would grow by at least the file's growth.
    assert growth_mib < 8, f"peak RSS grew {growth_mib:.1f} MiB for {file_growth_mib:.1f} MiB more input"
