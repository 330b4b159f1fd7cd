"""The command line: ``python -m ark [serve|migrate|export|import|copy-storage] [flags]`` (also the
single-file binary ark-apiserver).

``serve`` is the default command, so ``ark-apiserver --help`` shows serve's help. Every problem with
the configuration or the environment (a bad value, an unreachable database, a schema that is behind,
a port in use) ends the process with exit code 2 and one line on stderr, never a traceback.
"""
from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence

from ark.settings import ConfigError, Settings

PROG = "ark-apiserver"
EXIT_CONFIG = 2

_COMMANDS_HELP = f"""\
commands:
  serve         serve the Ark API over HTTPS (the default command)
  migrate       bring the database schema up to date
  export        write Ark objects as a YAML or JSON stream (from the database, or a running server)
  import        import Ark objects from manifests or from a cluster's Ark CRDs (--from-cluster)
  copy-storage  copy a database to another (SQLite to PostgreSQL), the server stopped

Run `{PROG} COMMAND --help` for a command's flags. Precedence: defaults < --config file < ARK_* env < flags.
"""


class CommandError(Exception):
    """A problem to report as one line, exit code 2."""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command = "serve"
    if args and args[0] in COMMANDS:
        command = args.pop(0)
    try:
        return COMMANDS[command](args)
    except (ConfigError, CommandError) as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130


def serve(args: list[str]) -> int:
    parser = Settings.parser(prog=f"{PROG} serve", description="Serve the Ark API (an aggregated Kubernetes API) "
                             "over HTTPS with gunicorn.", epilog=_COMMANDS_HELP)
    parser.parse_args(args)  # --help, and flag errors with this command's name
    settings = Settings.load(args, os.environ)
    _configure_logging(settings)

    from ark.observability.metrics import prepare_multiprocess_dir

    prepare_multiprocess_dir()  # before anything records a metric in this process (see its module)
    from ark.security.tls import ensure_serving_cert, write_kubeconfig
    from ark.server import ArkApplication, ServeError, check_port_free, check_startup, gunicorn_options

    warning = check_startup(settings)
    if warning:
        logging.getLogger(PROG).warning("%s", warning)
    try:
        check_port_free(settings)
    except ServeError as exc:
        raise CommandError(str(exc)) from None
    _with_database(settings, _check_schema)
    try:
        cert = ensure_serving_cert(settings)
        if settings.kubeconfig_out:
            write_kubeconfig(settings.kubeconfig_out, settings.server_url(), cert.ca_file,
                             placeholder_token=settings.auth_mode == "off")
            logging.getLogger(PROG).info("wrote kubeconfig %s", os.path.abspath(settings.kubeconfig_out))
    except OSError as exc:
        raise CommandError(f"{exc.filename or 'certificates'}: {(exc.strerror or str(exc)).lower()}") from None

    # Workers build their app from Settings.load(): hand them exactly these settings.
    os.environ.update(settings.to_env())
    os.environ.pop("ARK_CONFIG", None)
    ArkApplication(gunicorn_options(settings, cert)).run()
    return 0


def migrate(args: list[str]) -> int:
    parser = Settings.parser(prog=f"{PROG} migrate", sections=("storage",),
                             description="Bring the database schema up to date (alembic upgrade head).")
    parser.parse_args(args)
    settings = Settings.load(args, os.environ)
    _configure_logging(settings, migrating=True)
    _with_database(settings, _upgrade)
    logging.getLogger(PROG).info("%s is at the newest schema", settings.describe_database())
    return 0


def _adoption(name: str) -> Callable[[list[str]], int]:
    """A command of ark/adoption/cli.py, imported when it runs (serve never loads it)."""
    def run(args: list[str]) -> int:
        from ark.adoption import cli

        command: Callable[[list[str]], int] = getattr(cli, f"{name}_command")
        return command(args)

    return run


COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "serve": serve, "migrate": migrate,
    "export": _adoption("export"), "import": _adoption("import"), "copy-storage": _adoption("copy_storage"),
}


def _check_schema(settings: Settings) -> None:
    from ark.storage import migrations

    try:
        migrations.check_current(settings)
    except migrations.SchemaBehind as exc:
        raise CommandError(" ".join(str(exc).split())) from None


def _upgrade(settings: Settings) -> None:
    from ark.storage import migrations

    migrations.upgrade(settings)


def _with_database(settings: Settings, action: Callable[[Settings], None]) -> None:
    """Run ``action``; turn an unreachable/unusable database into one clear line."""
    import sqlalchemy.exc

    try:
        action(settings)
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise CommandError(describe_database_error(settings, exc)) from None
    except OSError as exc:
        verb = "open" if settings.storage_driver == "sqlite" else "reach"
        raise CommandError(f"cannot {verb} {settings.describe_database()}: {exc.strerror or exc}") from None


def describe_database_error(settings: Settings, exc: BaseException) -> str:
    """``cannot reach PostgreSQL at 127.0.0.1:5999: connection refused`` from a driver error."""
    orig = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(orig).strip().splitlines() if line.strip()]
    reason = lines[0] if lines else type(orig).__name__
    if "failed:" in reason:  # psycopg2: 'connection to server at "h", port 1 failed: Connection refused'
        reason = reason.rsplit("failed:", 1)[1]
    reason = " ".join(reason.replace("FATAL:", "").split())
    if reason[:1].isupper() and reason[1:2].islower():
        reason = reason[0].lower() + reason[1:]
    if reason.startswith("(") and ")" in reason:  # SQLAlchemy's '(sqlite3.OperationalError) ...'
        reason = reason.split(")", 1)[1].strip()
    verb = "open" if settings.storage_driver == "sqlite" else "reach"
    return f"cannot {verb} {settings.describe_database()}: {reason or type(orig).__name__}"


def _configure_logging(settings: Settings, migrating: bool = False) -> None:
    from ark.observability import logs

    logs.configure(settings.log_format, settings.log_level)
    if migrating and settings.log_level != "debug":  # its "Running upgrade ..." lines are news
        logging.getLogger("alembic.runtime.migration").setLevel(logging.INFO)


def _fail(message: str) -> int:
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_CONFIG


if __name__ == "__main__":
    sys.exit(main())
