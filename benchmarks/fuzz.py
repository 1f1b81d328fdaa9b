"""Long fuzzing runs of police.uk ingest (issue 13): the CI fuzzer's strategies, for N minutes.

Draws inputs with the Hypothesis strategies of tests/_fuzz.py (mutated real
police.uk files, CSVs and zips, one in 40 files with a field of several MB),
runs each through the real CLI in-process and checks it with the same
independent oracle as tests/test_fuzz_ingest.py. Hypothesis has no time
budget, so generation only (no shrinking) runs until the clock says stop; each
distinct kind of violation is then shrunk here, line by line, to a minimal
input, saved with a reproducer in the folder printed at the end. Prints:
inputs tried, inputs/second, the exit-code histogram, file statuses, violations.

    python benchmarks/fuzz.py --minutes 30 [--seed S] [--out DIR] [--huge 40]

Exit code 0 when no violation was found, 1 otherwise.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import random
import re
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # for tests._fuzz

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from tests._fuzz import (  # noqa: E402
    SEED,
    CsvEntry,
    FuzzInput,
    Outcome,
    ZipEntry,
    check,
    inputs,
)


class _TimeUp(BaseException):
    """Ends the Hypothesis run: not an Exception, so it is not taken for a failure."""


def signature(violation: str) -> str:
    """What kind of violation this is, without file names and numbers (for grouping and
    for keeping the same one while shrinking)."""
    v = re.sub(r"^[^:]*\.(csv|zip)[^:]*: ", "", violation)
    if v.startswith("exit code"):
        tail = [ln for ln in v.split(" ") if ln.endswith(("Error:", "Error", "Exception:"))]
        return "exit code " + v.split(":")[0].split()[-1] + " " + " ".join(tail[-1:])
    return re.sub(r"'[^']*'|\d+", "#", v)[:120]


def _variants(inp: FuzzInput):
    """Smaller inputs than ``inp``: fewer entries, fewer members, fewer lines."""
    entries = inp.entries
    for i in range(len(entries)):
        if len(entries) > 1:
            yield FuzzInput(entries[:i] + entries[i + 1 :], inp.as_folder)
    for i, e in enumerate(entries):
        if isinstance(e, ZipEntry):
            for m in e.members:  # a member on its own, outside any zip
                yield FuzzInput([*entries[:i], CsvEntry(e.name[:-4] + ".csv", m.data), *entries[i + 1 :]])  # fmt: skip
            for j in range(len(e.members)):
                if len(e.members) > 1:
                    z = ZipEntry(e.name, e.members[:j] + e.members[j + 1 :], e.deflate, e.extra_txt)
                    yield FuzzInput([*entries[:i], z, *entries[i + 1 :]], inp.as_folder)
    if inp.as_folder:
        yield FuzzInput(entries, False)
    for i, e in enumerate(entries):
        files = [e] if isinstance(e, CsvEntry) else e.members
        for k, f in enumerate(files):
            lines = f.data.splitlines(keepends=True)
            n = len(lines) - 1
            size = max(1, n // 2)
            while size >= 1:  # drop runs of data lines, halving the run
                for start in range(1, len(lines), size):
                    data = b"".join(lines[:start] + lines[start + size :])
                    if data != f.data:
                        yield _replace(inp, i, k, data)
                size //= 2
            for j, ln in enumerate(lines):  # cut long lines (a huge field) in half
                if len(ln) > 400:
                    yield _replace(inp, i, k, b"".join([*lines[:j], ln[:len(ln) // 2] + ln[-2:], *lines[j + 1:]]))  # fmt: skip


def _replace(inp: FuzzInput, i: int, k: int, data: bytes) -> FuzzInput:
    entries = list(inp.entries)
    e = entries[i]
    if isinstance(e, CsvEntry):
        entries[i] = CsvEntry(e.name, data, e.notes)
    else:
        members = list(e.members)
        members[k] = CsvEntry(members[k].name, data, members[k].notes)
        entries[i] = ZipEntry(e.name, members, e.deflate, e.extra_txt)
    return FuzzInput(entries, inp.as_folder)


def shrink(inp: FuzzInput, sig: str, budget: float) -> tuple[FuzzInput, list[str], int]:
    """Greedy: take the first smaller input that still shows ``sig``, until none does."""
    stop = time.monotonic() + budget
    best, best_v, tries = inp, [], 0
    progress = True
    while progress and time.monotonic() < stop:
        progress = False
        for cand in _variants(best):
            if time.monotonic() >= stop:
                break
            tries += 1
            vs = check(cand).violations
            if any(signature(v) == sig for v in vs):
                best, best_v, progress = cand, vs, True
                break
    return best, best_v or check(best).violations, tries


def save(folder: Path, n: int, inp: FuzzInput, violations: list[str], sig: str) -> Path:
    d = folder / f"{n:02d}"
    files = inp.write(d / "input")
    names = " ".join(str(p.relative_to(d)) for p in files)
    (d / "violations.txt").write_text(sig + "\n\n" + "\n".join(violations) + "\n")
    (d / "reproduce.py").write_text(
        f'"""Violation: {sig}\n\nShell:\n    cd {d}\n'
        f"    realimpact ingest police-uk {SEED} --store s.duckdb  # the seeded store\n"
        f"    realimpact ingest police-uk {'input' if inp.as_folder else names}"
        ' --store s.duckdb --json\n"""\n\n'
        "import sys\nsys.path.insert(0, " + repr(str(HERE.parent)) + ")\n"
        "from tests._fuzz import CsvEntry, FuzzInput, ZipEntry, check\n\n"
        f"INPUT = {inp.to_python()}\n\n"
        "print(*check(INPUT).violations, sep='\\n')\n"
    )
    return d


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, required=True)
    ap.add_argument("--seed", type=int, default=None, help="default: a random one (printed)")
    ap.add_argument("--out", type=Path, default=None, help="where reproducers go")
    ap.add_argument("--huge", type=int, default=40, help="one file in N gets a multi-MB field")
    ap.add_argument("--shrink-minutes", type=float, default=3.0, help="per kind of violation")
    args = ap.parse_args()
    s = args.seed if args.seed is not None else random.randrange(2**32)
    out = args.out or Path(tempfile.gettempdir()) / f"realimpact-fuzz-{s}"
    deadline = time.monotonic() + args.minutes * 60
    tried = 0
    codes: collections.Counter[str] = collections.Counter()
    statuses: collections.Counter[str] = collections.Counter()
    found: dict[str, tuple[FuzzInput, list[str], int]] = {}
    total_violating = 0

    @seed(s)
    @settings(
        max_examples=10**9, deadline=None, database=None, phases=[Phase.generate],
        suppress_health_check=list(HealthCheck), print_blob=False,
    )  # fmt: skip
    @given(inputs(huge=args.huge))
    def one(inp: FuzzInput) -> None:
        nonlocal tried, total_violating
        if time.monotonic() >= deadline:
            raise _TimeUp
        try:
            o = check(inp)
        except Exception as e:  # the checker itself broke: a finding, not the end of the run
            o = Outcome([f"checker crashed: {type(e).__name__}: {str(e)[:300]}"], (-1,))
        tried += 1
        codes["/".join(map(str, o.exit_codes))] += 1
        statuses.update(o.statuses)
        if o.violations:
            total_violating += 1
            sig = signature(o.violations[0])
            if sig not in found or inp.size() < found[sig][0].size():
                found[sig] = (inp, o.violations, found.get(sig, (None, None, 0))[2] + 1)
            else:
                found[sig] = (*found[sig][:2], found[sig][2] + 1)
            print(f"  violation after {tried} inputs: {o.violations[0][:200]}", flush=True)

    print(f"fuzzing police.uk ingest for {args.minutes:g} min, seed {s}", flush=True)
    t0 = time.monotonic()
    with contextlib.suppress(_TimeUp):
        one()
    spent = time.monotonic() - t0
    print(f"inputs tried: {tried} in {spent:.0f} s ({tried / spent:.2f} inputs/s)")
    print("exit codes (first/second ingest): " + ", ".join(f"{k}: {v}" for k, v in sorted(codes.items())))  # fmt: skip
    print("file statuses (first ingest): " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())))  # fmt: skip
    exit1 = sum(v for k, v in codes.items() if "1" in k.split("/"))
    print(f"inputs with exit code 1: {exit1}")
    print(f"violations: {total_violating} inputs, {len(found)} kinds")
    for n, (sig, (inp, _vs, count)) in enumerate(sorted(found.items()), start=1):
        small, small_v, tries = shrink(inp, sig, args.shrink_minutes * 60)
        d = save(out, n, small, small_v, sig)
        print(f"  [{n}] {count}x {sig}")
        print(f"      shrunk in {tries} tries to {small.size():,} bytes: {d}/reproduce.py")
        for v in small_v[:3]:
            print(f"      {v[:300]}")
    if found:
        print(f"reproducers: {out}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
