"""The Flask web app: `create_app` builds it from settings (environment by default)."""
from __future__ import annotations

from pathlib import Path

from flask import Flask, g, render_template, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import HTTPException

from triage.config import Settings, instance_secret, load_settings
from triage.db import session_factory

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES, STATIC = ROOT / "templates", ROOT / "static"
login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings()
    app = Flask(__name__, template_folder=str(TEMPLATES), static_folder=str(STATIC),
                instance_path=str(settings.instance_path))
    app.config.update(
        SECRET_KEY=settings.secret_key or instance_secret(settings.instance_path),
        TRIAGE=settings,
        MAX_CONTENT_LENGTH=50 * 1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        REMEMBER_COOKIE_SECURE=settings.secure_cookies,
        # Login attempts are counted in Redis, so every web process shares the count.
        RATELIMIT_STORAGE_URI=_limits_uri(settings),
        RATELIMIT_KEY_PREFIX=f"{settings.queue_prefix}-limits",
        RATELIMIT_SWALLOW_ERRORS=True,  # Redis away: let people log in rather than lock everyone out
        RATELIMIT_HEADERS_ENABLED=True,
    )
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Log in to work the queues."
    csrf.init_app(app)
    limiter.init_app(app)

    from triage.web import admin, api, auth, learning, pages, reports, work

    app.register_blueprint(auth.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(work.bp)
    app.register_blueprint(reports.bp)
    app.register_blueprint(learning.bp)
    csrf.exempt(api.bp)  # the API authenticates with bearer tokens, not cookies

    @app.errorhandler(HTTPException)
    def _error_page(exc: HTTPException):
        """People get a page that says what happened; API clients get JSON."""
        if request.path.startswith(("/api/", "/healthz")):
            return {"error": exc.description or exc.name}, exc.code
        if exc.code == 429:  # the login page renders its own message
            return exc
        headlines = {400: "That request could not be used", 403: "Your role cannot do this",
                     404: "Nothing here", 405: "Not like that"}
        return render_template("error.html", code=exc.code, name=exc.name, description=exc.description,
                               headline=headlines.get(exc.code, exc.name)), exc.code

    @app.teardown_appcontext
    def _close_session(_exc) -> None:
        session = g.pop("db", None)
        if session is not None:
            session.close()

    from triage.web import filters

    filters.register(app)
    return app


def _limits_uri(settings: Settings) -> str:
    from triage import broker

    url = broker.redis_url(settings)
    return "redis+unix://" + url[len("unix://"):] if url.startswith("unix://") else url


def db():
    """The request's database session."""
    if "db" not in g:
        from flask import current_app

        g.db = session_factory(current_app.config["TRIAGE"].database_url)()
    return g.db


def settings() -> Settings:
    from flask import current_app

    return current_app.config["TRIAGE"]


@login_manager.user_loader
def _load_user(user_id: str):
    from triage.models import User

    user = db().get(User, int(user_id))
    return user if user is not None and user.active else None
