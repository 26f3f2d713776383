"""Benchmark input built from the real posts in ../shared/data (never copied into the repository)."""
from __future__ import annotations

import csv
import json
import random
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
NETWORKS = ("x", "mastodon", "bluesky", "reddit", "instagram")


def real_texts() -> list[str]:
    """Customer posts from the shared data sets; exits with a clear message when they are absent."""
    if not DATA.is_dir():
        sys.exit(f"bench: {DATA} is missing; the benchmarks read real posts from ../shared/data")
    texts: list[str] = []
    with (DATA / "airline_sentiment_dev.csv").open(encoding="utf-8", newline="") as f:
        texts += [r["text"] for r in csv.DictReader(f)]
    with (DATA / "twcs_sample.csv").open(encoding="utf-8", newline="") as f:
        texts += [r["text"] for r in csv.DictReader(f) if r["inbound"] == "True"]
    return [t for t in texts if t.strip()]


def posts(count: int, seed: int = 7) -> list[dict]:
    """`count` unique posts in the import format, the real texts repeated as often as needed."""
    rng = random.Random(seed)
    texts = real_texts()
    out = []
    for n in range(count):
        author = rng.randrange(count // 4 + 1)
        out.append({
            "id": f"bench-{n}", "network": NETWORKS[author % len(NETWORKS)], "text": texts[n % len(texts)],
            "author": f"user{author}", "author_name": f"User {author}",
            "author_followers": int(rng.paretovariate(1.2) * 50),
            "posted_at": f"2026-11-{1 + n % 20:02d}T{n % 24:02d}:{n % 60:02d}:00Z",
        })
    return out


def write_jsonl(path: Path, records: list[dict]) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    return path
