"""Classification speed, zero-shot and with a learned model: posts per second per core (CPU time), in process and
through `triage classify` (the whole command, start-up included).

With `against`, the folder of another copy of the code (say the previous commit, `git archive HEAD | tar -x -C
DIR`), both copies' `triage classify` run on the same posts, interleaved, in rounds, each with a model its own code
trained: a side-by-side figure that holds however busy the machine is.

The learned model is trained on half the labelled posts in ../shared/data, in a temporary folder, and thrown away
afterwards: no model fitted to that data is kept or shipped.
"""
from __future__ import annotations

import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.data import DATA, real_texts

POSTS = 40_000
BATCH = 500  # as `triage classify` batches its input


def _train(folder: Path) -> Path:
    from triage.tagging.learning.examples import Example
    from triage.tagging.learning.training import fit

    with (DATA / "airline_sentiment_dev.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    examples = [Example(r["text"], r["airline_sentiment"]) for r in rows[::2]]
    with (DATA / "intent_dev.tsv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    examples += [Example(r["text"], r["sentiment"], r["intent"]) for r in rows[::2]]
    started = time.perf_counter()
    result = fit(examples)
    print(f"trained on {len(examples):,} labelled posts in {time.perf_counter() - started:.1f} s "
          f"(both tasks learned: {all(result.model.learned(t) for t in ('sentiment', 'intent'))})")
    path = folder / "model.joblib"
    result.model.save(path)
    return path


def _in_process(texts: list[str], model) -> tuple[float, float]:
    from triage.tagging.classifier import classify_many

    classify_many(texts[:BATCH], model=model)  # lexicons and model loaded before timing
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(0, len(texts), BATCH):
        classify_many(texts[i:i + BATCH], model=model)
    return len(texts) / (time.process_time() - cpu), len(texts) / (time.perf_counter() - wall)


def _command(stdin: Path, args: list[str], env: dict, cwd: Path | None = None) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    with stdin.open("rb") as f:  # `python -m` imports from its working folder first: `cwd` picks the code
        done = subprocess.run([sys.executable, "-m", "triage.cli", "classify", *args], stdin=f,
                              capture_output=True, env=env, check=False, cwd=cwd)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"bench: triage classify {' '.join(args)} failed: {done.stderr.decode()[-500:]}")
    lines = done.stdout.count(b"\n")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return lines / cpu, lines / wall


def _side_by_side(other: Path, folder: Path, stdin: Path, model_path: Path, env: dict, rounds: int = 3) -> None:
    """`triage classify` of this code and of `other`, interleaved, `rounds` times; the median of each."""
    import statistics

    other = other.resolve()
    other_model = folder / "other" / "model.joblib"
    other_model.parent.mkdir()
    # That copy's own training code, reading this copy's ../shared/data (that copy may sit anywhere).
    subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; import bench.classifier as b; "
                    "b.DATA = Path(sys.argv[2]); b._train(Path(sys.argv[1]))", str(other_model.parent), str(DATA)],
                   cwd=other, env=env, check=True, stdout=subprocess.DEVNULL)
    here = Path(__file__).resolve().parents[1]
    print(f"side by side with {other}, {rounds} rounds, median posts/s per core through `triage classify`:")
    for name, args, other_args in (("zero-shot", ["--zero-shot"], ["--zero-shot"]),
                                   ("learned", ["--model", str(model_path)], ["--model", str(other_model)])):
        mine, theirs = [], []
        for _ in range(rounds):
            theirs.append(_command(stdin, other_args, env, other)[0])
            mine.append(_command(stdin, args, env, here)[0])
        m, t = statistics.median(mine), statistics.median(theirs)
        print(f"  {name:<9} this code {m:>7,.0f}   {other.name} {t:>7,.0f}   ratio {m / t:.2f}")


def main(posts: int = POSTS, against: Path | None = None) -> None:
    from triage.tagging.learning.model import LearnedModel

    texts = real_texts()
    texts = (texts * (posts // len(texts) + 1))[:posts]
    with tempfile.TemporaryDirectory(prefix="triage-bench-") as tmp:
        folder = Path(tmp)
        model_path = _train(folder)
        model = LearnedModel.load(model_path)
        stdin = folder / "posts.jsonl"
        stdin.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)))
        env = {**os.environ, "TRIAGE_INSTANCE_PATH": str(folder / "instance")}  # no active model there
        print(f"{len(texts):,} real posts, {os.cpu_count()} cores; posts/s per core is posts per CPU-second")
        for name, loaded, args in (("zero-shot", None, ["--zero-shot"]),
                                   ("learned", model, ["--model", str(model_path)])):
            per_core, wall = _in_process(texts, loaded)
            print(f"  {name:<9} in process:        {per_core:>7,.0f} posts/s per core  ({wall:,.0f}/s wall clock)")
            per_core, wall = _command(stdin, args, env)
            print(f"  {name:<9} `triage classify`: {per_core:>7,.0f} posts/s per core  ({wall:,.0f}/s wall clock, "
                  "start-up included)")
        if against is not None:
            _side_by_side(against, folder, stdin, model_path, env)


if __name__ == "__main__":
    main()
