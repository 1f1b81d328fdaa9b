"""Time and peak memory of refusing hostile inputs (issue 13's resource limits).

Each case runs the real CLI in a fresh process and prints its exit code, wall
time and peak RSS (the child's ``ru_maxrss``), against the promise: exit 2,
under 5 s, under 1 GiB.

- a 1 GiB zip bomb: one police.uk member of 1 GiB deflated to about 3 MB;
- a billion-laughs operation plan (``plan validate``): 10^9 nodes once expanded;
- a billion-laughs market registry (``markets import``).

Also the same bytes through the tools a user might otherwise reach for, as the
baseline: Python's ``zipfile`` reading the member whole and PyYAML's
``yaml.safe_load``, each under a 1 GiB address-space limit (they fail with
MemoryError or run on; the figure shows what the caps prevent).

    python benchmarks/hostile.py [--keep]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
STREET = (
    HERE.parent.parent
    / "shared/data/police_uk/city_of_london/street/2020-05-city-of-london-street.csv"
)

# run a command in-process and report its own peak RSS, so the figure is the CLI's
CHILD = r"""
import json, resource, sys, time
from typer.testing import CliRunner
from realimpact.cli import app
t = time.monotonic()
r = CliRunner().invoke(app, sys.argv[1:])
print(json.dumps({"rc": r.exit_code, "seconds": time.monotonic() - t,
    "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    "out": [ln.strip(" │") for ln in (r.output or "").splitlines()
            if "error" in ln or "refused" in ln or "cap" in ln][-1:]}))
"""

# the baseline: the same bytes through the standard libraries, memory capped at 1 GiB
BASELINE = r"""
import json, resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
t = time.monotonic()
what = sys.argv[1]
try:
    if what == "zip":
        import zipfile
        with zipfile.ZipFile(sys.argv[2]) as z:
            n = len(z.read(z.namelist()[0]))
        outcome = f"read {n} bytes"
    else:
        import yaml
        doc = yaml.safe_load(open(sys.argv[2]))
        json.dumps(doc)  # what any consumer of the document does: walk it
        outcome = "loaded"
except MemoryError:
    outcome = "MemoryError at the 1 GiB cap"
print(json.dumps({"seconds": time.monotonic() - t, "outcome": outcome,
    "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def zip_bomb(path: Path, size: int = 1 << 30) -> Path:
    head, rest = STREET.read_bytes().split(b"\n", 1)
    row = rest.split(b"\n", 1)[0] + b"\n"
    block = row * ((8 << 20) // len(row))
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf,
        zf.open("2020-05/bomb-street.csv", "w", force_zip64=True) as f,
    ):
        f.write(head + b"\n")
        for _ in range(size // len(block)):
            f.write(block)
    return path


def laughs(levels: int = 9, width: int = 10) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def run(cmd: list[str], script: str = CHILD) -> dict:
    p = subprocess.run(
        [sys.executable, "-c", script, *cmd], capture_output=True, text=True, timeout=600
    )
    try:
        return json.loads(p.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"rc": p.returncode, "seconds": float("nan"), "rss": 0, "out": [p.stderr[-200:]]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", action="store_true", help="keep the generated inputs")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ri-hostile-"))
    try:
        bomb = zip_bomb(work / "bomb.zip")
        plan = work / "plan.yaml"
        plan.write_text("id: laughs\n" + laughs())
        reg = work / "registry.yaml"
        reg.write_text("markets:\n" + "".join("  " + ln + "\n" for ln in laughs().splitlines()))
        cases = [
            (f"zip bomb (1 GiB member, {bomb.stat().st_size / 1e6:.1f} MB zip)",
             ["ingest", "police-uk", str(bomb), "--store", str(work / "s.duckdb")],
             ["zip", str(bomb)]),
            (f"billion-laughs plan ({plan.stat().st_size} bytes)",
             ["plan", "validate", str(plan)], ["yaml", str(plan)]),
            (f"billion-laughs registry ({reg.stat().st_size} bytes)",
             ["markets", "import", str(reg), "--store", str(work / "m.duckdb")],
             ["yaml", str(reg)]),
        ]  # fmt: skip
        print(f"{'case':42} {'exit':>4} {'seconds':>8} {'peak MiB':>9}   baseline")
        ok = True
        for label, cmd, base in cases:
            r = run(cmd)
            b = run(base, BASELINE)
            good = r["rc"] == 2 and r["seconds"] < 5 and r["rss"] < 1 << 30
            ok &= good
            print(
                f"{label:42} {r['rc']:>4} {r['seconds']:>8.2f} {r['rss'] / 2**20:>9.0f}   "
                f"{b.get('outcome', '?')} in {b['seconds']:.1f} s, {b['rss'] / 2**20:.0f} MiB"
            )
            print(f"{'':42} {' '.join(r.get('out') or [])[:110]}")
        print("all refused with exit 2 within 5 s and 1 GiB" if ok else "A TARGET WAS MISSED")
    finally:
        if args.keep:
            print(f"inputs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
