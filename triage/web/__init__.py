"""The Flask web app: `create_app` builds it from settings (environment by default)."""
from __future__ import annotations

from pathlib import Path

from flask import Flask, abort, g, render_template, request
from werkzeug.exceptions import HTTPException

from triage.config import Settings, instance_secret, load_settings
from triage.web.context import csrf, limiter, login_manager

PACKAGE = Path(__file__).resolve().parents[1]  # templates and static files ship inside the package (and its wheel)
TEMPLATES, STATIC = PACKAGE / "templates", PACKAGE / "static"


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

    from triage.web import api, api_mentions, auth, dead_letters, learning, pages, reports, tokens, work
    from triage.web.admin import people, replies, routing, sources
    from triage.web.api_customer_records import bp as api_customer_records_bp
    from triage.web.api_customers import bp as api_customers_bp
    from triage.web.customer_import import bp as customer_import_bp
    from triage.web.customers import bp as customers_bp

    for bp in (auth.bp, pages.bp, work.bp, reports.bp, learning.bp, tokens.bp, dead_letters.bp,
               people.bp, replies.bp, routing.bp, sources.bp, customer_import_bp, customers_bp):
        app.register_blueprint(bp)
    for bp in (api.bp, api_mentions.bp, api_customer_records_bp, api_customers_bp):
        app.register_blueprint(bp)
        csrf.exempt(bp)  # the API authenticates with bearer tokens, not cookies

    @app.before_request
    def _refuse_nul() -> None:
        """A NUL character fits in no text column (PostgreSQL refuses it outright): refuse the request, clearly."""
        # The API's bodies are JSON, read by its views: parsing them as a form here would use them up.
        pairs = [*request.args.lists(), *(request.form.lists() if not request.path.startswith("/api/") else [])]
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
                               headline=headlines.get(exc.code or 500, exc.name)), exc.code

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
