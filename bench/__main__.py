"""`python -m bench [pipeline|queues|classifier|reports|all] [options]`: benchmarks that print figures.

  pipeline    N posts from a JSON Lines file through a real worker into the database, beside the classifier alone
  queues      queue page and claim-next latency at 10,000 and 1,000,000 mentions
  classifier  zero-shot and learned classification speed (--against DIR: side by side with another copy of the code)
  tagging     tag quality: the eval tool's in-domain split, and learning from airline posts scored on other brands'
  reports     the report page over 1,000,000 mentions with their events (PostgreSQL)
"""
from __future__ import annotations

import argparse
import importlib
from pathlib import Path

CHOICES = ("pipeline", "queues", "classifier", "reports", "tagging")


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("which", nargs="?", default="pipeline", choices=CHOICES + ("all",))
    ap.add_argument("--posts", type=int, default=50_000, help="pipeline: how many posts")
    ap.add_argument("--workers", type=int, default=1, help="pipeline: worker processes")
    ap.add_argument("--sizes", default="10000,1000000", help="queues: mention counts to compare")
    ap.add_argument("--runs", type=int, default=200, help="queues: requests measured per size")
    ap.add_argument("--backend", action="append", choices=["sqlite", "postgresql"])
    ap.add_argument("--against", type=Path, help="classifier: another copy of the code to time side by side")
    args = ap.parse_args()
    backends = tuple(args.backend or ("sqlite", "postgresql"))
    for which in CHOICES if args.which == "all" else (args.which,):
        module = importlib.import_module(f"bench.{which}")
        if which == "pipeline":
            module.main(args.posts, args.workers, backends)
        elif which == "queues":
            module.main(tuple(int(s) for s in args.sizes.split(",")), backends, args.runs)
        elif which == "classifier":
            module.main(against=args.against)
        else:
            module.main()


if __name__ == "__main__":
    main()
