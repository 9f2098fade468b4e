"""``python -m bench``: the JERP benchmark (and the data-plane one when root)."""

from __future__ import annotations

from bench.jerp_bench import main

if __name__ == "__main__":
    raise SystemExit(main())
