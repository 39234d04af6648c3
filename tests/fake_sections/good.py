"""A section that reports which process ran it and with how many BLAS threads."""

from __future__ import annotations

import os

from csa_demo.sweep import result_row


def run(quick: bool, cache_dir: object) -> list[dict]:
    threads = float(os.environ.get("OPENBLAS_NUM_THREADS", "0"))
    return [
        result_row("good", "data", "CSA (default)", 10, "pid", float(os.getpid())),
        result_row("good", "data", "CSA (default)", 10, "blas threads", threads),
    ]
