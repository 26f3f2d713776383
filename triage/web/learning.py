"""The model page: what the classifier learned from the team's labels, a labelled file to teach it more, and a
button to retrain it now."""
from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from redis.exceptions import RedisError

from triage import learning
from triage.db import utcnow
from triage.models import Event
from triage.web import db, settings

bp = Blueprint("learning", __name__)


@bp.before_request
@login_required
def _leads_only():
    if not current_user.can("lead"):
        abort(403)


def _job_state() -> dict:
    """The on-demand retrain job as the page shows it: state, and what it ended with."""
    from workers.jobs import retrain_job

    try:
        job = retrain_job(settings())
        if job is None:
            return {"state": "idle"}
        state = job.get_status()
    except (RedisError, OSError):
        return {"state": "unknown", "message": "The job queue (Redis) is not answering."}
    state = getattr(state, "value", state) or "idle"
    out = {"state": state}
    if state == "finished":
        result = job.return_value() or {}
        out["message"] = (f"Done: learned model v{result['version']} is active." if result.get("trained")
                          else f"Done, no new model: {result.get('reason', 'not enough labels')}.")
    elif state == "failed":
        out["message"] = "Failed: " + ((job.latest_result().exc_string or "").strip().splitlines() or ["?"])[-1]
    elif state in ("queued", "scheduled", "deferred"):
        out["message"] = "Waiting for a worker…"
    elif state == "started":
        out["message"] = "Training… (a minute or two for thousands of labels)"
    return out


class LabelsForm(FlaskForm):
    file = FileField("Labelled file (CSV or JSON Lines)", validators=[FileRequired("Choose a file to import.")])


@bp.get("/model")
def model():
    from triage.queues import IS_WORKABLE, capped_count, unsure_tags

    return render_template("model.html", o=learning.overview(db(), settings()), job=_job_state(), form=LabelsForm(),
                           unsure_open=capped_count(db(), IS_WORKABLE, unsure_tags()))


@bp.get("/model/status")
def status():
    """What the page polls while a retrain runs."""
    active = learning.active_version(db())
    return jsonify(job=_job_state(), active_version=active.id if active else None,
                   waiting=learning.labels_waiting(db()))


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
        examples = learning.read_labels(upload.stream, name)
    except learning.LabelFileError as exc:
        flash(f"{exc}. Nothing was imported.", "error")
        return redirect(url_for("learning.model"), 303)
    session = db()
    now = utcnow()
    learning.import_labels(session, examples, user_id=current_user.id, now=now)
    per_task = {task: sum(getattr(e, task) is not None for e in examples) for task in learning.TASKS}
    session.add(Event(mention_id=None, actor_id=current_user.id, action="imported labels", to_state=name,
                      detail={"labels": len(examples), **per_task}, created_at=now))
    session.commit()
    what = ", ".join(f"{n:,} {task}" for task, n in per_task.items() if n)
    try:
        enqueue_retrain(settings())
    except (RedisError, OSError):
        flash(f"{name}: {len(examples):,} labelled texts imported ({what}). The job queue (Redis) is not answering: "
              "the hourly retrain will learn from them.", "info")
    else:
        flash(f"{name}: {len(examples):,} labelled texts imported ({what}); retraining on them now.", "info")
    return redirect(url_for("learning.model"), 303)
