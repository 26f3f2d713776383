"""Queues and routing rules (leads change them, supervisors read along), and trying a text against them: thin
shells over `triage.routing.settings`, which reads and checks every field."""
from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload
from werkzeug.wrappers import Response

from triage.core.errors import Invalid
from triage.core.roles import LEADS, READERS
from triage.core.vocabulary import CLOSED, INTENTS, SENTIMENTS
from triage.models import Mention, Queue, RoutingRule, Team
from triage.routing import settings
from triage.routing.rules import FALLBACK_QUEUE
from triage.web.admin.forms import Page, allow, blueprint, changed, field
from triage.web.context import db

bp = blueprint("routing", __name__)


@bp.app_template_filter("conditions")
def conditions(rule: RoutingRule) -> str:
    """A routing rule's conditions as a sentence."""
    return settings.describe_rule(rule)


def _teams(session: Session) -> list[Team]:
    return list(session.scalars(select(Team).order_by(Team.name)))


def _routing_page(*, form: Any = None, status: int = 200) -> Page:
    session = db()
    queues = session.scalars(select(Queue).order_by(Queue.position, Queue.id)).all()
    rules = session.scalars(select(RoutingRule).options(joinedload(RoutingRule.queue))
                            .order_by(RoutingRule.position, RoutingRule.id)).all()
    open_counts = dict(session.execute(select(Mention.queue_id, func.count()).where(
        Mention.queue_id.is_not(None), Mention.status.not_in(CLOSED)).group_by(Mention.queue_id)).all())
    rule_counts = dict(session.execute(select(RoutingRule.queue_id, func.count()).group_by(RoutingRule.queue_id)).all())
    trial, sample = None, {"text": request.args.get("text", ""), "network": request.args.get("network", "x"),
                           "followers": request.args.get("followers", "")}
    if "text" in request.args:
        try:
            trial = settings.try_text(session, sample["text"], sample["network"], sample["followers"])
        except Invalid as exc:
            flash(str(exc), "error")
            status = 400
    return render_template("routing.html", queues=queues, rules=rules, teams=_teams(session), trial=trial,
                           sample=sample, open_counts=open_counts, rule_counts=rule_counts, intents=INTENTS,
                           sentiments=SENTIMENTS, fallback=FALLBACK_QUEUE, form=form or {}), status


@bp.get("/routing")
def routing() -> Page:
    allow(*READERS)
    return _routing_page()


def _to(anchor: str) -> Response:
    return redirect(url_for(".routing") + anchor)


# Queues ----------------------------------------------------------------------------------------------------------

@bp.post("/routing/queues")
def queue_add() -> Response:
    allow(*LEADS)
    queue = changed(lambda: settings.add_queue(db(), current_user, field("name"), field("description"),
                                               field("team_id")), _routing_page)
    flash(f"Added the queue {queue.name}. Add a routing rule so mentions land in it.", "info")
    return _to("#queues")


def _queue(session: Session, queue_id: int) -> Queue:
    queue = session.get(Queue, queue_id)
    if queue is None:
        abort(404)
    return queue


def _queue_page(queue_id: int, *, form: Any = None, status: int = 200) -> Page:
    session = db()
    queue = _queue(session, queue_id)
    form = form or {"name": queue.name, "description": queue.description, "team_id": str(queue.team_id or "")}
    return render_template("routing_queue.html", queue=queue, teams=_teams(session), form=form), status


@bp.get("/routing/queues/<int:queue_id>")
def queue_detail(queue_id: int) -> Page:
    allow(*READERS)
    return _queue_page(queue_id)


@bp.post("/routing/queues/<int:queue_id>")
def queue_update(queue_id: int) -> Response:
    allow(*LEADS)
    queue = changed(lambda: settings.update_queue(db(), current_user, queue_id, field("name"), field("description"),
                                                  field("team_id")), _queue_page, queue_id)
    flash(f"Saved the queue {queue.name}.", "info")
    return _to("#queues")


@bp.post("/routing/queues/<int:queue_id>/move")
def queue_move(queue_id: int) -> Response:
    allow(*LEADS)
    changed(lambda: settings.move_queue(db(), current_user, queue_id, request.form.get("direction", "down")),
            _routing_page)
    return _to("#queues")


@bp.post("/routing/queues/<int:queue_id>/delete")
def queue_delete(queue_id: int) -> Response:
    allow(*LEADS)
    name = _queue(db(), queue_id).name
    gone = changed(lambda: settings.delete_queue(db(), current_user, queue_id), _routing_page,
                   taken=f"{name} received a mention meanwhile; it was not deleted")
    moved = f"; its {gone.closed_moved} closed mentions now belong to {gone.fallback}" if (
        gone.closed_moved and gone.fallback) else ""
    flash(f"Deleted the queue {gone.name}{moved}.", "info")
    return _to("#queues")


# Routing rules ---------------------------------------------------------------------------------------------------

def _rule_fields() -> dict[str, str]:
    """The rule form as typed; `settings` reads each field ("" is "any")."""
    return {name: field(name) for name in settings.RULE_FIELDS}


@bp.post("/routing/rules")
def rule_add() -> Response:
    allow(*LEADS)
    rule = changed(lambda: settings.add_rule(db(), current_user, _rule_fields(),
                                             enabled=bool(request.form.get("enabled"))), _routing_page)
    flash(f"Added a rule: {conditions(rule)} → {rule.queue.name}. It is checked after the rules above it.", "info")
    return _to("#rules")


def _rule_page(rule_id: int, *, form: Any = None, status: int = 200) -> Page:
    session = db()
    rule = session.get(RoutingRule, rule_id)
    if rule is None:
        abort(404)
    urgent = {None: "", True: "yes", False: "no"}[rule.urgent]
    form = form or {"queue_id": str(rule.queue_id), "intent": rule.intent or "", "sentiment": rule.sentiment or "",
                    "network": rule.network or "", "urgent": urgent,
                    "min_priority": "" if rule.min_priority is None else str(rule.min_priority)}
    queues = session.scalars(select(Queue).order_by(Queue.position, Queue.id)).all()
    return render_template("routing_rule.html", rule=rule, queues=queues, intents=INTENTS, sentiments=SENTIMENTS,
                           form=form), status


@bp.get("/routing/rules/<int:rule_id>")
def rule_detail(rule_id: int) -> Page:
    allow(*READERS)
    return _rule_page(rule_id)


@bp.post("/routing/rules/<int:rule_id>")
def rule_update(rule_id: int) -> Response:
    allow(*LEADS)
    rule = changed(lambda: settings.update_rule(db(), current_user, rule_id, _rule_fields()), _rule_page, rule_id)
    flash(f"Saved the rule: {conditions(rule)} → {rule.queue.name}.", "info")
    return _to("#rules")


@bp.post("/routing/rules/<int:rule_id>/enabled")
def rule_enabled(rule_id: int) -> Response:
    allow(*LEADS)
    rule = changed(lambda: settings.set_rule_enabled(db(), current_user, rule_id, request.form.get("enabled") == "1"),
                   _routing_page)
    flash(f"Rule “{conditions(rule)} → {rule.queue.name}” is {'on' if rule.enabled else 'off'}.", "info")
    return _to("#rules")


@bp.post("/routing/rules/<int:rule_id>/move")
def rule_move(rule_id: int) -> Response:
    allow(*LEADS)
    changed(lambda: settings.move_rule(db(), current_user, rule_id, request.form.get("direction", "down")),
            _routing_page)
    return _to("#rules")


@bp.post("/routing/rules/<int:rule_id>/delete")
def rule_delete(rule_id: int) -> Response:
    allow(*LEADS)
    described = changed(lambda: settings.delete_rule(db(), current_user, rule_id), _routing_page)
    flash(f"Deleted the rule “{described}”. Mentions already queued stay where they are.", "info")
    return _to("#rules")
