"""``python -m bench`` (``make bench``): JERP vs its baselines, then the data plane when root."""

from __future__ import annotations

import os
import sys

from bench import dataplane_bench, jerp_bench


def main() -> int:
    status = jerp_bench.main([])
    if os.geteuid() == 0:
        print()
        status = max(status, dataplane_bench.main([]))
    else:
        print(
            "data-plane benchmark skipped: it needs root for network namespaces "
            "(sudo make bench, or inside the harness image)",
            file=sys.stderr,
        )
    return status


if __name__ == "__main__":
    raise SystemExit(main())
