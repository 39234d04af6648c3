"""Kill a process in the middle of ``save()`` many times; count what it leaves behind.

A child process builds a model of about 160 MB (ASIF anchors), reports that it is
ready, and saves it to the same path over and over; the parent kills it with SIGKILL
at a random moment, ``--kills`` times. After each kill the folder is listed: anything
besides the model file is debris (a killed save's temporary). After the last kill one
ordinary save runs, as a user's next save would, and the folder is listed again.

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/killed_saves.py [--kills 20] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = """
import sys, numpy as np, csa
rows, dim = int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
model = csa.ASIF().fit(rng.standard_normal((rows, dim)), rng.standard_normal((rows, dim)))
print("ready", flush=True)
while True:
    model.save(sys.argv[1])
"""


def _debris(folder: Path, keep: str) -> list[tuple[str, int]]:
    out = []
    for entry in folder.iterdir():
        if entry.name == keep:
            continue
        size = (
            sum(p.stat().st_size for p in entry.rglob("*") if p.is_file())
            if entry.is_dir()
            else entry.stat().st_size
        )
        out.append((entry.name, size))
    return sorted(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "killed_saves.json")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    folder = Path(tempfile.mkdtemp(prefix="csa-killed-saves-"))
    target = folder / "model.csa"
    after_kill = []
    for _ in range(args.kills):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(target), str(args.rows), str(args.dim)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 3.0))
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        after_kill.append(_debris(folder, target.name))
        print(f"kill {len(after_kill)}: debris {after_kill[-1]}", file=sys.stderr)
    # The user's next ordinary save.
    subprocess.run(
        [sys.executable, "-c", CHILD.replace("while True:", "for _ in range(1):"),
         str(target), str(args.rows), str(args.dim)],
        check=True, capture_output=True,
    )  # fmt: skip
    left = _debris(folder, target.name)
    import csa

    loads = True
    try:
        csa.load(target)
    except csa.CSAError:
        loads = False
    report = {
        "csa_file": csa.__file__,
        "kills": args.kills,
        "model_bytes": target.stat().st_size,
        "kills_leaving_debris": sum(1 for d in after_kill if d),
        "max_debris_entries_after_a_kill": max((len(d) for d in after_kill), default=0),
        "debris_after_next_save": left,
        "model_loads": loads,
    }
    shutil.rmtree(folder, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
