"""The ``export``, ``import`` and ``copy-storage`` commands of ``python -m ark``.

They reach the database exactly as ``serve`` and ``migrate`` do (the storage flags, ``ARK_*``
environment and ``--config`` file), so they work on a stopped server's data. Exit codes: 0 done,
1 bad input documents (each one reported; nothing imported), 2 a configuration or environment
problem (one line, raised as :class:`CommandError`).
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from typing import Any, TextIO

import sqlalchemy.exc

from ark.__main__ import describe_database_error  # the one wording of database errors, for every command
from ark.adoption import copy, documents, export
from ark.adoption.importer import Importer, prune_scope
from ark.adoption.progress import Progress
from ark.adoption.sources import ApiSource, Lister, Selection, SourceError, database_lister, read_all
from ark.cluster.client import ClusterError
from ark.cluster.namespaces import ClusterCoreObjects
from ark.kinds import REGISTRY
from ark.kinds.registry import Kind
from ark.machinery import selectors
from ark.machinery.errors import ApiError
from ark.registry.store import ResourceStore
from ark.services import admission_options
from ark.settings import ConfigError, Settings
from ark.storage.dialects import create_engine_for
from ark.storage.migrations import SchemaBehind, check_current_engine
from ark.storage.store import Store

EXIT_BAD_INPUT = 1


class CommandError(ConfigError):
    """A problem to report as one line, exit code 2 (``python -m ark`` reports it as a ConfigError)."""


def _parser(prog: str, description: str, sections: Sequence[str]) -> argparse.ArgumentParser:
    return Settings.parser(prog=prog, sections=sections, description=description)


def _add_selection(group: Any, namespace_help: str) -> None:
    group.add_argument("--kind", action="append", default=[], metavar="KIND",
                       help="only these kinds (plural, singular, Kind or short name; comma separated or repeated)")
    group.add_argument("-n", "--namespace", metavar="NAMESPACE", default=None, help=namespace_help)
    group.add_argument("-l", "--selector", metavar="SELECTOR", default="",
                       help="only objects whose labels match (Kubernetes label selector syntax)")
    group.add_argument("--kubeconfig", metavar="PATH", default=None,
                       help="kubeconfig of the Kubernetes API to read (its current context)")


def resolve_kinds(names: Iterable[str]) -> list[Kind]:
    """Kinds named as kubectl names them; all of them when none is named."""
    wanted = [n.strip() for name in names for n in name.split(",") if n.strip()]
    if not wanted:
        return list(REGISTRY)
    found: list[Kind] = []
    for name in wanted:
        lowered = name.lower()
        match = next((k for k in REGISTRY if lowered in (k.plural, k.singular, k.kind.lower(), k.resource,
                                                        f"{k.singular}.{k.group}", *k.short_names)), None)
        if match is None:
            raise CommandError(f'--kind {name}: no such Ark kind; one of {", ".join(k.plural for k in REGISTRY)}')
        if match not in found:
            found.append(match)
    return found


def _check_selector(selector: str) -> None:
    try:
        selectors.parse_label_selector(selector)
    except ApiError as err:
        raise CommandError(f"--selector {selector!r}: {err.message}") from None


def _database(settings: Settings, action: Callable[[], Any]) -> Any:
    """Run ``action``; an unreachable database becomes one line (as for ``serve``)."""
    try:
        return action()
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise CommandError(describe_database_error(settings, exc)) from None
    except SchemaBehind as exc:
        raise CommandError(" ".join(str(exc).split())) from None


def _store(settings: Settings, stack: ExitStack) -> Store:
    engine = create_engine_for(settings)
    stack.callback(engine.dispose)
    _database(settings, lambda: check_current_engine(engine))
    return Store(engine, settings.max_object_bytes)


# ----------------------------------------------------------------------------------- export

def export_command(args: list[str]) -> int:
    parser = _parser("ark-apiserver export", "Write Ark objects as a YAML or JSON stream, from the database (the\n"
                     "server may be stopped) or, with --kubeconfig, from a Kubernetes API that serves them.",
                     ("storage",))
    own = parser.add_argument_group("export")
    _add_selection(own, "only this namespace (default: all)")
    own.add_argument("--server", metavar="URL", default=None, help="the API server's URL (default: the kubeconfig's)")
    own.add_argument("-o", "--format", dest="output_format", choices=export.FORMATS, default="yaml",
                     help="yaml (documents separated by ---, the default) or json (one object a line)")
    own.add_argument("--output", dest="output_file", metavar="FILE", default=None, help="write here, not to stdout")
    options = parser.parse_args(args)
    kinds = resolve_kinds(options.kind)
    _check_selector(options.selector)
    selection = Selection(kinds, options.namespace, options.selector)
    if options.server and not options.kubeconfig:
        raise CommandError("--server needs --kubeconfig (the credentials and CA to reach it with)")
    with ExitStack() as stack:
        lister: Lister
        settings = Settings.from_flags(vars(options), os.environ)
        if options.kubeconfig:
            source = ApiSource(options.kubeconfig, options.server)
            stack.callback(source.close)
            lister = source.lister
        else:
            lister = database_lister(_store(settings, stack))
        out: TextIO = sys.stdout
        if options.output_file:
            out = stack.enter_context(_open_output(options.output_file))
        try:
            counts = _database(settings, lambda: export.write(read_all(lister, selection), out, options.output_format,
                                                             Progress("objects exported", 0)))
        except SourceError as err:
            raise CommandError(str(err)) from None
        except BrokenPipeError:  # the reader had enough (| head): stop quietly, as kubectl does
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        if options.kubeconfig:
            for kind in source.missing:
                print(f"note: the API serves no {kind.resource}", file=sys.stderr)
    print(f"exported {sum(counts.values())} objects" + "".join(f", {n} {p}" for p, n in sorted(counts.items())),
          file=sys.stderr)
    return 0


def _open_output(path: str) -> TextIO:
    try:
        return open(path, "w", encoding="utf-8")  # closed by the caller's ExitStack
    except OSError as exc:
        raise CommandError(f"--output {path}: {exc.strerror or exc}") from None


# ----------------------------------------------------------------------------------- import

def import_command(args: list[str]) -> int:
    parser = _parser("ark-apiserver import", "Import Ark objects into the database from manifests (YAML or JSON "
                     "streams, - for stdin)\nor, with --from-cluster, from a cluster's Ark custom resources. Every "
                     "document is checked\nfirst: one bad document and nothing is imported (exit code 1). "
                     "docs/moving-in.md has the\nsteps from CRDs to the Ark API Server.", ("storage", "admission"))
    parser.usage = "%(prog)s [options] FILE... | --from-cluster --kubeconfig PATH"
    own = parser.add_argument_group("import")
    own.add_argument("files", nargs="*", default=[], metavar="FILE", help="manifests to import (- reads stdin)")
    own.add_argument("--from-cluster", action="store_true", default=False,
                     help="read the Ark objects of the cluster --kubeconfig names (CRDs, before the APIServices "
                          "are switched)")
    _add_selection(own, "with files: the namespace of objects that name none (default: default); "
                        "with --from-cluster: only this namespace")
    own.add_argument("--prune", action="store_true", default=False,
                     help="delete objects of the imported kinds and namespaces that the source does not have")
    options = parser.parse_args(args)
    if options.from_cluster == bool(options.files):
        raise CommandError("give manifest files (or -) or --from-cluster, not both and not neither")
    if options.from_cluster and not options.kubeconfig:
        raise CommandError("--from-cluster needs --kubeconfig (the cluster to read)")
    kinds = resolve_kinds(options.kind)
    _check_selector(options.selector)
    settings = Settings.from_flags(vars(options), os.environ)
    with ExitStack() as stack:
        core = None
        if options.from_cluster:
            batch, core = _read_cluster(options, kinds, stack)
        else:
            batch = documents.read(_read_files(options.files), options.namespace or "default")
            batch.entries = [e for e in batch.entries if e.kind in kinds and _selected(e, options.selector)]
        documents.refuse_too_large(batch, settings.max_object_bytes)
        for skipped in batch.skipped:
            print(f"note: {skipped}", file=sys.stderr)
        if batch.problems:
            for problem in batch.problems:
                print(f"error: {problem}", file=sys.stderr)
            print(f"error: {len(batch.problems)} bad document(s): nothing was imported", file=sys.stderr)
            return EXIT_BAD_INPUT
        store = _store(settings, stack)
        resources = ResourceStore(store, core=core, admission=admission_options(settings))
        scope = prune_scope(batch, kinds, options.namespace if options.from_cluster else None,
                            options.from_cluster, options.selector) if options.prune else None
        try:
            report = _database(settings, lambda: Importer(resources).run(batch, scope))
        except ApiError as err:  # the database went away mid-run: what is written stays, a re-run goes on
            raise CommandError(f"the import stopped: {err.message}; objects written so far are kept, and running "
                               "the same import again carries on") from None
    for warning in report.warnings:
        print(f"admission would refuse {warning}")
    print(report.summary())
    return 0


def _selected(entry: documents.Entry, selector: str) -> bool:
    return selectors.matches(selectors.parse_label_selector(selector), entry.obj["metadata"].get("labels"))


def _read_files(paths: list[str]) -> Iterable[tuple[str, str]]:
    for path in paths:
        try:
            if path == "-":
                yield "<stdin>", sys.stdin.read()
            else:
                with open(path, encoding="utf-8") as handle:
                    yield path, handle.read()
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise CommandError(f"{path}: not UTF-8 text (a manifest is YAML or JSON)") from None


def _read_cluster(options: argparse.Namespace, kinds: list[Kind],
                  stack: ExitStack) -> tuple[documents.Batch, ClusterCoreObjects | None]:
    """Every Ark object the cluster serves, checked as documents are, and where admission reads
    the cluster's Secrets, ConfigMaps and Services."""
    source = ApiSource(options.kubeconfig, flag="--kubeconfig")
    stack.callback(source.close)
    where = source.describe()
    progress = Progress(f"objects read from {where}", 0)
    batch = documents.Batch()
    counts: dict[str, int] = {}
    try:
        for kind, obj in read_all(source.lister, Selection(kinds, options.namespace, options.selector)):
            index = counts[kind.plural] = counts.get(kind.plural, -1) + 1
            checked = documents.check(obj, f"the cluster's {kind.plural} list", index, "default", unit="item")
            if isinstance(checked, documents.Problem):
                batch.problems.append(checked)
            else:
                batch.entries.append(checked)
            progress.advance()
    except SourceError as err:
        raise CommandError(str(err)) from None
    progress.finish()
    for kind in source.missing:
        print(f"note: the cluster serves no {kind.resource} (no CRD): nothing to import of that kind", file=sys.stderr)
    # An API without the core group (an Ark API Server in standalone mode) has no Secrets to check:
    # the rules that read them are skipped, as that server skips them itself.
    try:
        serves_core = source.client.get("/api") is not None
    except ClusterError as err:
        raise CommandError(str(err)) from None
    return batch, ClusterCoreObjects(source.client) if serves_core else None


# ----------------------------------------------------------------------------------- copy-storage

def copy_storage_command(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ark-apiserver copy-storage",
                                     description="Copy every object, label and the revision counter from one "
                                                 "database to another, with the server stopped. Clients watching "
                                                 "from before the copy get 410 Expired and relist.")
    parser.add_argument("--from", dest="source", required=True, metavar="DATABASE",
                        help="sqlite:PATH or postgresql://user[:password]@host[:port]/database[?sslmode=...]")
    parser.add_argument("--to", dest="target", required=True, metavar="DATABASE", help="the same forms as --from")
    parser.add_argument("--overwrite", "--force", action="store_true",
                        help="replace the contents of a target that is not empty")
    try:
        options = parser.parse_args(args)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    source, target = copy.parse_target(options.source, "--from"), copy.parse_target(options.target, "--to")
    if source.storage_driver == "sqlite" and not os.path.exists(source.sqlite_path):
        raise CommandError(f"--from: {source.sqlite_path} does not exist")

    def run() -> copy.Copied:
        try:
            return copy.copy_storage(source, target, options.overwrite, lambda total: Progress("objects copied", total))
        except copy.CopyRefused as err:
            raise CommandError(str(err)) from None

    copied = _copying(source, target, run)
    print(f"copied {copied.objects} objects and {copied.labels} labels from {source.describe_database()} to "
          f"{target.describe_database()}; revision {copied.revision}, watches from before it relist (410 Expired)")
    return 0


def _copying(source: Settings, target: Settings, run: Callable[[], copy.Copied]) -> copy.Copied:
    """A database error names the database it came from (by its driver; the target when both are alike)."""
    try:
        return run()
    except SchemaBehind as exc:
        raise CommandError(f"--from: {' '.join(str(exc).split())}") from None
    except sqlalchemy.exc.SQLAlchemyError as exc:
        module = type(getattr(exc, "orig", None) or exc).__module__
        from_source = source.storage_driver != target.storage_driver and module.startswith(
            "sqlite3" if source.storage_driver == "sqlite" else "psycopg2")
        raise CommandError(describe_database_error(source if from_source else target, exc)) from None
