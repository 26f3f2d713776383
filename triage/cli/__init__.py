"""The `triage` command: run everything, work with data, and run the worker and scheduler processes.

One module per family of commands, each registering on the group in `group.py`:
processes (init, run, worker, cron, redis), accounts (user, token), intake (import, source),
tagging (classify, train), customers (customers import), reporting (report, summaries, status).
"""
# Importing the command modules registers their commands on `main`.
import triage.cli.accounts
import triage.cli.customers
import triage.cli.intake
import triage.cli.processes
import triage.cli.reporting
import triage.cli.tagging  # noqa: F401 - one binding (`triage`) for the six
from triage.cli.group import main

__all__ = ["main"]
