"""``python -m bench``: the JERP benchmark, and as root the local stack's (``bench.stack_bench``:
deploy by phase, greeting throughput, change-to-traffic latency, scale, re-deploy), unless
``--no-dataplane`` is given."""

from __future__ import annotations

import os
import sys

from bench.jerp_bench import main


def run_all(argv: list[str]) -> int:
    # --no-dataplane skips the stack benchmark too: it deploys a data plane of its own.
    if os.geteuid() != 0 or "--no-dataplane" in argv:
        return main(argv)
    # The stack benchmark deploys its own stack and runs the data-plane throughput on it.
    code = main(["--no-dataplane", *argv])
    from bench import stack_bench

    print("\nthe local stack (bench.stack_bench):", flush=True)
    return stack_bench.main([]) or code


if __name__ == "__main__":
    raise SystemExit(run_all(sys.argv[1:]))
