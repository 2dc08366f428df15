"""``celery -A proj celadon [flower's options]``: celadon on this app's broker.

Registered under Celery's ``celery.commands`` entry point, as Flower
registers ``flower``. Celery has already loaded the app (``-A``, or
``CELERY_APP``) and applied ``--broker``, ``--result-backend``, ``--config``
and ``--workdir`` when this command runs. It reads the app's connection
settings, hands them to the celadon program as JSON in the
``CELADON_CELERY_CONF`` environment variable, and replaces this process with
the program, the user's arguments passed unchanged.

The settings travel in the environment, never in argv: they hold passwords,
and a process's argv is readable by every user of the machine, its
environment only by the same user. Nothing here prints them.

Celery imports this module on every ``celery`` call, workers included: its
module-level imports are what Celery's CLI has loaded already.
"""

import json
import os

import click
from celery.bin.base import CeleryCommand

from celadon import exec_binary

#: The variable the program reads the app's settings from.
ENV_VAR = "CELADON_CELERY_CONF"

#: The app's settings celadon reads (server/src/config/celery.rs says what
#: each becomes). Read with getattr: ``broker_url``, ``broker_read_url``,
#: ``broker_write_url`` and ``result_backend`` are properties that give
#: ``celery --broker``/``--result-backend`` (CELERY_BROKER_URL, ...) first,
#: which ``conf.get`` would miss.
KEYS = (
    "broker_url",
    "broker_read_url",
    "broker_write_url",
    "broker_transport_options",
    "broker_use_ssl",
    "result_backend",
    "result_backend_transport_options",
    "redis_backend_use_ssl",
    "event_exchange",
    "control_exchange",
)


class SettingError(Exception):
    """A setting that has no faithful JSON form; names the setting, never
    its value."""


@click.command(
    cls=CeleryCommand,
    # `celery celadon --help` is the program's help, with Flower's options.
    add_help_option=False,
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def celadon(ctx, args, **_preload):
    """Run celadon, the live dashboard, on this app's broker."""
    warn_misplaced(ctx, args)
    try:
        settings = read_settings(ctx.obj.app.conf)
    except SettingError as exc:
        raise click.ClickException(str(exc)) from None
    env = dict(os.environ)
    env[ENV_VAR] = json.dumps(settings, separators=(",", ":"))
    try:
        exec_binary(list(args), env)
    except OSError as exc:
        raise click.ClickException(f"cannot run celadon: {exc}") from exc


def warn_misplaced(ctx, args):
    """Celery's own options after the sub-command are not Celery's any more
    (Flower warns the same way); they are still passed on."""
    celery_options = {o for p in ctx.parent.command.params for o in p.opts}
    misplaced = [a.split("=", 1)[0] for a in args if a.split("=", 1)[0] in celery_options]
    if misplaced:
        click.echo(
            f"celadon: {', '.join(misplaced)} is Celery's option; give it before the "
            "sub-command: celery [celery options] celadon [celadon options]",
            err=True,
        )


#: Where the Django project's default database is handed over, for
#: ``result_backend = "django-db"`` (django-celery-results), whose table is
#: there. Not a Celery setting: server/src/config/celery.rs reads it with
#: ``result_backend``.
DJANGO_DATABASE = "django_database_url"


def read_settings(conf):
    """The app's settings in KEYS as JSON-ready values; with django-db,
    the Django project's default database as a URL too."""
    settings = {key: to_json(getattr(conf, key, None), key) for key in KEYS}
    if settings.get("result_backend") == "django-db":
        url = django_database_url()
        if url is not None:
            settings[DJANGO_DATABASE] = url
    return settings


def django_database_url():
    """Django's default database as a URL celadon reads:
    ``postgresql://user:password@host:port/name`` (a socket directory as
    ``?host=``) or ``sqlite:////absolute/path``; for another engine, its
    vendor's name as a scheme (celadon then says it does not read it).
    ``None`` outside a configured Django project. Django is imported only if
    the app has loaded it already."""
    import sys

    if "django.conf" not in sys.modules:
        return None
    from django.conf import settings
    from urllib.parse import quote

    if not settings.configured:
        return None
    db = settings.DATABASES.get("default") or {}
    engine = db.get("ENGINE", "")
    name = os.fspath(db.get("NAME") or "")
    if engine.endswith(".sqlite3"):
        return "sqlite:///" + os.path.abspath(name)
    if not engine.endswith((".postgresql", ".postgresql_psycopg2")):
        return engine.rsplit(".", 1)[-1] + "://"
    user = quote(db.get("USER") or "", safe="")
    password = db.get("PASSWORD") or ""
    login = user + (":" + quote(password, safe="") if password else "")
    host = db.get("HOST") or ""
    port = db.get("PORT") or ""
    query = ""
    if host.startswith("/"):
        query, host = "?host=" + quote(host, safe="/"), ""
    netloc = (login + "@" if login else "") + host + (f":{port}" if port else "")
    return f"postgresql://{netloc}/{quote(name, safe='')}{query}"


def to_json(value, path):
    """``value`` as JSON can carry it, or SettingError naming ``path``.

    ``ssl_cert_reqs`` (any key ending in ``cert_reqs``) becomes kombu's word
    for it: ``ssl.CERT_REQUIRED`` is an IntEnum, which ``json.dumps`` would
    silently write as 2. Other enums become their names, durations seconds,
    paths and bytes text. Anything else (an ``ssl.SSLContext``, a function)
    is refused: nothing is passed as a guess.
    """
    if path.endswith("cert_reqs"):
        return cert_reqs(value, path)
    import datetime
    import enum

    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            raise SettingError(f"celadon cannot pass the setting {path}: bytes that are not UTF-8") from None
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise SettingError(
                    f"celadon cannot pass the setting {path}: a key of type "
                    f"{type(key).__name__} (JSON keys are text)"
                )
            out[key] = to_json(item, f"{path}.{key}")
        return out
    if isinstance(value, (list, tuple)):
        return [to_json(item, f"{path}[{i}]") for i, item in enumerate(value)]
    raise SettingError(
        f"celadon cannot pass the setting {path}: a {type(value).__name__} has no "
        "JSON form (give the settings it stands for instead)"
    )


#: kombu's words for ssl's CERT_* values.
CERT_WORDS = {0: "none", 1: "optional", 2: "required"}


def cert_reqs(value, path):
    """``ssl.CERT_*``, its number, or its name (``CERT_REQUIRED`` or
    ``required``) as ``"none"``, ``"optional"`` or ``"required"``."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        word = CERT_WORDS.get(int(value))
    elif isinstance(value, str):
        name = value.strip().lower()
        name = name[len("cert_"):] if name.startswith("cert_") else name
        word = name if name in CERT_WORDS.values() else None
    else:
        word = None
    if word is None:
        raise SettingError(
            f"celadon cannot pass the setting {path}: use ssl.CERT_NONE, "
            "ssl.CERT_OPTIONAL or ssl.CERT_REQUIRED"
        )
    return word
