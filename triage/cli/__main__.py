"""`python -m triage.cli`: how `triage run` starts its workers and scheduler (supervision.child_argv)."""
import os

from triage.cli import main

if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
