"""`python -m bench [pipeline] [--posts N] [--workers N] [--backend sqlite|postgresql]`."""
from __future__ import annotations

import argparse

from bench import pipeline


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("which", nargs="?", default="pipeline", choices=["pipeline"])
    ap.add_argument("--posts", type=int, default=50_000)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--backend", action="append", choices=["sqlite", "postgresql"])
    args = ap.parse_args()
    if args.which == "pipeline":
        pipeline.main(args.posts, args.workers, tuple(args.backend or ("sqlite", "postgresql")))


if __name__ == "__main__":
    main()
