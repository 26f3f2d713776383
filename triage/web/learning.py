"""The model page: what the classifier learned from the team's labels, and a button to retrain it now."""
from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, url_for
from flask_login import current_user, login_required
from redis.exceptions import RedisError

from triage import learning
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


@bp.get("/model")
def model():
    return render_template("model.html", o=learning.overview(db(), settings()), job=_job_state())


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
