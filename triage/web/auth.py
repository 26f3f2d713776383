"""Log in and out."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from triage.people.accounts import authenticate, log_out
from triage.web.context import db, limiter
from triage.web.navigation import safe_next

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=256)])
    remember = BooleanField("Keep me logged in")


@bp.app_errorhandler(429)
def _too_many(exc):
    if request.endpoint != "auth.login":
        return {"error": f"too many requests ({exc.description}); slow down"}, 429
    flash("Too many login attempts from here. Wait a minute and try again.", "error")
    return render_template("login.html", form=LoginForm()), 429


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["TRIAGE"].login_limit, methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("pages.queues"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        user = authenticate(db(), form.username.data, form.password.data)
        if user is not None:
            db().commit()
            login_user(user, remember=form.remember.data)
            return redirect(safe_next(request.args.get("next"), url_for("pages.queues")))
        flash("Unknown username or wrong password.", "error")
        status = 401
    elif request.method == "POST":
        flash("The form expired or was incomplete; please try again.", "error")
        status = 400
    return render_template("login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    # The session cookie lives in the browser: clearing it here would leave a copy (or the remember cookie)
    # valid. Moving the user's session generation on makes every cookie issued so far worthless.
    log_out(db(), current_user._get_current_object())
    db().commit()
    logout_user()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))
