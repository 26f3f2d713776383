"""The model page: what the classifier learned from the team's labels, a labelled file to teach it more, and a
button to retrain it now."""
from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from redis.exceptions import RedisError

from triage.tagging.learning import labels
from triage.tagging.learning.examples import TASKS, LabelFileError, read_labels
from triage.tagging.learning.overview import overview
from triage.tagging.learning.versions import active_version, labels_waiting
from triage.web.context import db, settings

bp = Blueprint("learning", __name__)


@bp.before_request
@login_required
def _leads_only():
    if not current_user.can("lead"):
        abort(403)


def _job_state() -> dict[str, str]:
    """The on-demand retrain job as the page shows it: state, and what it ended with."""
    from workers.jobs import retrain_job

    try:
        job = retrain_job(settings())
        if job is None:
            return {"state": "idle"}
        status = job.get_status()
    except (RedisError, OSError):
        return {"state": "unknown", "message": "The job queue (Redis) is not answering."}
    state: str = getattr(status, "value", status) or "idle"
    out = {"state": state}
    if state == "finished":
        result = job.return_value() or {}
        out["message"] = (f"Done: learned model v{result['version']} is active." if result.get("trained")
                          else f"Done, no new model: {result.get('reason', 'not enough labels')}.")
    elif state == "failed":
        latest = job.latest_result()
        out["message"] = "Failed: " + (((latest.exc_string if latest else None) or "").strip().splitlines()
                                       or ["?"])[-1]
    elif state in ("queued", "scheduled", "deferred"):
        out["message"] = "Waiting for a worker…"
    elif state == "started":
        out["message"] = "Training… (a minute or two for thousands of labels)"
    return out


class LabelsForm(FlaskForm):
    file = FileField("Labelled file (CSV or JSON Lines)", validators=[FileRequired("Choose a file to import.")])


@bp.get("/model")
def model():
    from triage.work.queues import IS_WORKABLE, capped_count, unsure_tags

    return render_template("model.html", o=overview(db(), settings()), job=_job_state(), form=LabelsForm(),
                           unsure_open=capped_count(db(), IS_WORKABLE, unsure_tags()))


@bp.get("/model/status")
def status():
    """What the page polls while a retrain runs."""
    active = active_version(db())
    return jsonify(job=_job_state(), active_version=active.id if active else None, waiting=labels_waiting(db()))


@bp.post("/model/retrain")
def retrain():
    from workers.jobs import enqueue_retrain

    try:
        enqueue_retrain(settings())
    except (RedisError, OSError):
        flash("The job queue (Redis) is not answering; try again in a moment.", "error")
        return redirect(url_for("learning.model"), 303)
    flash("Retraining: tagging switches to the new model as soon as it is ready.", "info")
    return redirect(url_for("learning.model"), 303)


@bp.post("/model/labels")
def import_labels():
    """Store a labelled file's labels (all or, on a bad line, none), audited, and retrain on them at once."""
    from workers.jobs import enqueue_retrain

    form = LabelsForm()
    if not form.validate_on_submit():
        flash("; ".join(e for errs in form.errors.values() for e in errs), "error")
        return redirect(url_for("learning.model"), 303)
    upload = form.file.data
    name = (upload.filename or "").replace("\\", "/").rsplit("/", 1)[-1][:120] or "upload"  # shown and audited
    try:
        examples = read_labels(upload.stream, name)
    except LabelFileError as exc:
        flash(f"{exc}. Nothing was imported.", "error")
        return redirect(url_for("learning.model"), 303)
    session = db()
    labels.import_labels(session, current_user, examples, name=name)
    session.commit()
    per_task = {task: sum(getattr(e, task) is not None for e in examples) for task in TASKS}
    what = ", ".join(f"{n:,} {task}" for task, n in per_task.items() if n)
    try:
        enqueue_retrain(settings())
    except (RedisError, OSError):
        flash(f"{name}: {len(examples):,} labelled texts imported ({what}). The job queue (Redis) is not answering: "
              "the hourly retrain will learn from them.", "info")
    else:
        flash(f"{name}: {len(examples):,} labelled texts imported ({what}); retraining on them now.", "info")
    return redirect(url_for("learning.model"), 303)
