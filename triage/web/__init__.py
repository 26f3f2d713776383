"""The Flask web app: `create_app` builds it from settings (environment by default)."""
from __future__ import annotations

from pathlib import Path

from flask import Flask, abort, g, render_template, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import AnonymousUserMixin, LoginManager
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import HTTPException

from triage.config import Settings, instance_secret, load_settings
from triage.db import session_factory

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES, STATIC = ROOT / "templates", ROOT / "static"


class Anonymous(AnonymousUserMixin):
    """Someone not logged in: no role, so every `can()` says no. (`login_required` lets OPTIONS through.)"""

    role = None

    def can(self, *roles: str) -> bool:
        return False


login_manager = LoginManager()
login_manager.anonymous_user = Anonymous
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings()
    app = Flask(__name__, template_folder=str(TEMPLATES), static_folder=str(STATIC),
                instance_path=str(settings.instance_path))
    from triage.web.navigation import RowIdConverter

    app.url_map.converters["int"] = RowIdConverter  # before any route: an id past the database's range is a 404
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

    from triage.web import admin, api, auth, dead_letters, learning, pages, reports, tokens, work

    app.register_blueprint(auth.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(work.bp)
    app.register_blueprint(reports.bp)
    app.register_blueprint(learning.bp)
    app.register_blueprint(tokens.bp)
    app.register_blueprint(dead_letters.bp)
    csrf.exempt(api.bp)  # the API authenticates with bearer tokens, not cookies

    @app.before_request
    def _refuse_nul() -> None:
        """A NUL character fits in no text column (PostgreSQL refuses it outright): refuse the request, clearly."""
        # The API's bodies are JSON, read by its views: parsing them as a form here would use them up.
        form = request.form if not request.path.startswith("/api/") else {}
        pairs = [*request.args.lists(), *(form.lists() if form else [])]
        texts = [request.path, *(k for k, _ in pairs), *(v for _, values in pairs for v in values)]
        if any("\x00" in t for t in texts):
            abort(400, "The request holds a NUL character (%00), which no field can take.")

    @app.errorhandler(HTTPException)
    def _error_page(exc: HTTPException):
        """People get a page that says what happened; API clients get JSON."""
        if request.path.startswith(("/api/", "/healthz")):
            return api.http_error(exc)  # JSON, keeping the exception's headers (Allow on a 405)
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
def _load_user(alternative_id: str):
    """Session and remember cookies carry "<id>:<generation>" (User.get_id); an ended generation logs nobody in."""
    from triage.accounts import user_for_session

    return user_for_session(db(), alternative_id)
