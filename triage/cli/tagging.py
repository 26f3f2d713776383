"""Tags at the console: `classify` JSON Lines on stdin, `train` the classifier on the stored labels."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from triage.cli.group import checked_settings, main


@main.command()
@click.option("--zero-shot", is_flag=True, help="Use the built-in rules even when a trained model is active.")
@click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Use this model file (from <instance>/models/) instead of the active one.")
def classify(zero_shot: bool, model_path: Path | None) -> None:
    """Read JSON Lines {"id", "text"} on stdin, write one JSON line of tags per input, in order.

    Tags come from the newest trained model when there is one (see `triage train`), else from the rules.
    """
    from triage.tagging.classifier import ACTIVE, JSONL_BATCH, Model, classify_jsonl

    if zero_shot and model_path:
        raise click.UsageError("give --zero-shot or --model, not both")
    model: Model = None if zero_shot else ACTIVE
    if model_path:
        from triage.tagging.learning.model import LearnedModel

        try:
            model = LearnedModel.load(model_path)
        except Exception as exc:  # noqa: BLE001 - unpickling fails in many ways; each means "not a model file"
            raise click.ClickException(f"{model_path}: not a triage model file ({exc})") from None
    if hasattr(sys.stdin, "reconfigure"):
        sys.stdin.reconfigure(errors="replace")  # a bad byte spoils one line, not the run
    classify_jsonl(sys.stdin, sys.stdout, model=model, batch_size=1 if sys.stdin.isatty() else JSONL_BATCH)


@main.command()
@click.option("--input", "input_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help='Labelled JSON Lines {"text", "sentiment"?, "intent"?}; stored as imported labels first.')
@click.option("--min-per-class", type=click.IntRange(min=3), default=None,
              help="Labels each class needs before a task is learned (default TRIAGE_MIN_LABELS_PER_CLASS, 20).")
def train(input_file: Path | None, min_per_class: int | None) -> None:
    """Train the classifier on every stored label (corrections and imports) and make it the active model."""
    from triage import migrate
    from triage.db import session_scope
    from triage.tagging.learning import labels, versions
    from triage.tagging.learning.examples import LabelFileError, read_label_file

    settings = checked_settings(database=False)  # it migrates the database itself
    examples = []
    if input_file is not None:
        try:
            examples = read_label_file(input_file)
        except LabelFileError as exc:
            raise click.ClickException(f"{exc}; nothing was imported") from None
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.database_url)
    with session_scope(settings.database_url) as session:
        if examples:
            labels.import_labels(session, None, examples, name=str(input_file))
            session.commit()
            click.echo(f"{input_file}: {len(examples):,} labels imported")
        version, result = versions.train(session, settings, min_per_class=min_per_class)
    for line in result.summary():
        click.echo(line)
    if version is None:
        raise click.ClickException(f"no model trained: no task has {result.min_per_class} labels in every class "
                                   "yet; tagging keeps using the built-in rules")
    click.echo(f"learned model v{version.id} is active ({result.label_count:,} labelled texts)")
