"""The customer-records upload form: a lead imports a CRM or loyalty export (as `triage customers import` does)."""
from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import StringField
from wtforms.validators import Length, Optional

from triage.core.errors import WorkflowError
from triage.db import session_factory
from triage.people.customer_records import ImportResult, import_file
from triage.web.context import db, settings

bp = Blueprint("customer_import", __name__)
SHOWN_ERRORS = 50


class CustomerImportForm(FlaskForm):
    file = FileField("Export (CSV or JSON Lines)", validators=[FileRequired("Choose a file to import.")])
    system = StringField("System", validators=[Optional(), Length(max=64)],
                         description="Where the records come from, e.g. crm or loyalty (else each row names it).")


@bp.before_request
@login_required
def _leads_only() -> None:
    if not current_user.can("lead"):
        abort(403)


@bp.get("/sources/customers")
def form() -> ResponseReturnValue:
    return render_template("customer_import.html", form=CustomerImportForm(), result=None, problem=None)


@bp.post("/sources/customers")
def upload() -> ResponseReturnValue:
    form = CustomerImportForm()
    if not form.validate_on_submit():
        problem = "; ".join(e for errs in form.errors.values() for e in errs)
        return render_template("customer_import.html", form=form, result=None, problem=problem), 400
    upload = form.file.data
    name = (upload.filename or "").replace("\\", "/").rsplit("/", 1)[-1][:120] or "upload"
    result: ImportResult | None = None
    try:
        result = import_file(session_factory(settings().database_url), current_user, upload.stream, name,
                             system=(form.system.data or "").strip() or None)
    except WorkflowError as exc:
        db().rollback()
        return render_template("customer_import.html", form=form, result=None,
                               problem=f"{name}: {exc}. Nothing was imported."), exc.status
    return render_template("customer_import.html", form=CustomerImportForm(), result=result, name=name,
                           errors=result.errors[:SHOWN_ERRORS], problem=None)
