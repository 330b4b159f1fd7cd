"""The Dockerfile, checked without a Docker engine (none runs here).

Its instructions are read as Docker reads them; every path it copies must exist, the entry point's
files and modules too, and the Helm chart must run the same command as the image. Then the files
it copies are laid out as the image's /app and served from there (migrated with alembic, as in the
image), which shows nothing outside them is needed and nothing is written inside them (the root
filesystem is read-only in the cluster).
"""
from __future__ import annotations

import ast
import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from ark.__main__ import COMMANDS
from ark.security.tls import ServingCert
from ark.server import gunicorn_options
from ark.settings import Settings
from tests.conftest import REPO, free_port
from tests.deploy.conftest import one
from tests.deploy.kubeapi import KubeAPI, auth_configmap, kube_api

RUNTIME_FILES = {"alembic.ini", "wsgi.py", "alembic", "config", "ark"}


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def env(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for args in self.all("ENV"):
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                out[key] = value
        return out

    def copies(self) -> list[tuple[str | None, list[str], str]]:
        """(from-stage, sources, destination) of each COPY."""
        out = []
        for args in self.all("COPY"):
            words = shlex.split(args)
            source_stage = None
            while words[0].startswith("--"):
                flag = words.pop(0)
                if flag.startswith("--from="):
                    source_stage = flag.split("=", 1)[1]
            out.append((source_stage, words[:-1], words[-1]))
        return out


def dockerfile_stages(text: str) -> list[Stage]:
    """The stages of a Dockerfile: backslash continuations joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    stages: list[Stage] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = args.split()
            stages.append(Stage(words[0], words[2] if len(words) == 3 and words[1].upper() == "AS" else None))
        else:
            stages[-1].instructions.append((keyword, args.strip()))
    return stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return dockerfile_stages((REPO / "Dockerfile").read_text())


@pytest.fixture(scope="module")
def runtime(stages) -> Stage:
    return stages[-1]


def entrypoint(stage: Stage) -> list[str]:
    (args,) = stage.all("ENTRYPOINT")
    return json.loads(args)


def test_a_builder_stage_installs_the_pinned_wheels_into_a_venv(stages):
    assert len(stages) == 2
    builder, runtime = stages
    assert builder.name and builder.base == runtime.base == "python:3.11-slim"
    assert any("-r /tmp/requirements.txt" in run and "/opt/venv/bin/pip install" in run for run in builder.all("RUN"))
    assert builder.copies() == [(None, ["requirements.txt"], "/tmp/requirements.txt")]
    assert (builder.name, ["/opt/venv"], "/opt/venv") in runtime.copies()


def test_the_runtime_stage_copies_only_runtime_files_and_they_exist(runtime):
    copied = set()
    for source_stage, sources, _destination in runtime.copies():
        if source_stage is None:
            for source in sources:
                assert (REPO / source).exists(), f"COPY {source}: no such path in the repository"
                copied.add(source.rstrip("/"))
    assert copied == RUNTIME_FILES


def test_it_runs_as_a_numeric_non_root_user_the_chart_also_uses(runtime, render):
    (user,) = runtime.all("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and gid.isdigit() and int(uid) != 0
    pod = one(render(), "Deployment")["spec"]["template"]["spec"]["securityContext"]
    assert (pod["runAsUser"], pod["runAsGroup"]) == (int(uid), int(gid))


def test_the_entry_point_is_gunicorn_with_gevent_workers_from_the_config_file(runtime):
    command = entrypoint(runtime)
    assert command == ["gunicorn", "-c", "config/gunicorn.conf.py", "wsgi:app"]
    (workdir,) = runtime.all("WORKDIR")
    assert workdir == "/app"
    assert (REPO / "config" / "gunicorn.conf.py").is_file()
    module, _, attribute = command[-1].partition(":")
    tree = ast.parse((REPO / f"{module}.py").read_text())
    assigned = {target.id for node in tree.body if isinstance(node, ast.Assign) for target in node.targets
                if isinstance(target, ast.Name)}
    assert attribute in assigned
    assert "gunicorn==" in (REPO / "requirements.txt").read_text()
    options = gunicorn_options(Settings(), ServingCert("c", "k", "ca"))
    assert options["worker_class"] == "ark.server.ArkGeventWorker"  # gunicorn's gevent worker with slow-client guards
    from gunicorn.workers.ggevent import GeventWorker

    from ark.server import ArkGeventWorker
    assert issubclass(ArkGeventWorker, GeventWorker)


def test_the_chart_runs_the_images_entry_point_and_migration(runtime, render):
    objects = render()
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    (server,) = pod["containers"]
    assert server["command"] == entrypoint(runtime)
    (migrate,) = pod["initContainers"]
    python, dash_m, package, command = migrate["command"]
    assert (python, dash_m, package) == ("python", "-m", "ark") and command in COMMANDS


def test_it_listens_on_all_addresses_only_with_delegated_authentication(runtime):
    env = runtime.env()
    assert env["ARK_BIND_ADDRESS"] == "0.0.0.0"
    assert env["ARK_AUTH_MODE"] == "delegated"
    known = set(Settings().to_env())
    assert {name for name in env if name.startswith("ARK_")} <= known
    assert "/opt/venv/bin" in env["PATH"].split(":")
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"


def test_the_build_context_leaves_out_the_checkouts_bulk():
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", "data", "tests"} <= ignored
    assert not ignored & RUNTIME_FILES


def snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def lay_out(stage: Stage, app: Path) -> None:
    """Copy what the stage's COPY lines take from the build context, as Docker would, into ``app``
    (their destinations are relative to WORKDIR /app)."""
    for source_stage, sources, destination in stage.copies():
        if source_stage is not None:
            continue
        target = app / destination
        for source in sources:
            if (REPO / source).is_dir():  # a directory's contents go into the destination
                shutil.copytree(REPO / source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                into = target / Path(source).name if destination.endswith("/") else target
                into.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / source, into)


def test_the_copied_files_alone_migrate_with_alembic_and_serve(runtime, tmp_path):
    """The image's /app, rebuilt from the Dockerfile's COPY lines, run with the image's environment:
    delegated authentication against a stand-in kube-apiserver."""
    with kube_api(tmp_path / "cluster") as cluster:
        _serve_the_copied_files(runtime, tmp_path, cluster)


def _serve_the_copied_files(runtime: Stage, tmp_path: Path, cluster: KubeAPI) -> None:
    app = tmp_path / "app"
    lay_out(runtime, app)
    assert {p.name for p in app.iterdir()} == RUNTIME_FILES
    before = snapshot(app)

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARK_", "PYTHON"))}
    image_env = runtime.env()
    # The image's /opt/venv is this venv, and its $PATH the machine's.
    image_env["PATH"] = image_env["PATH"].replace("/opt/venv/bin", str(Path(sys.executable).parent)) \
        .replace("$PATH", os.environ["PATH"])
    env.update(image_env)
    env.update({
        "ARK_BIND_ADDRESS": "127.0.0.1",  # tests listen on loopback only
        "ARK_SECURE_PORT": str(port),
        "ARK_SQLITE_PATH": str(tmp_path / "data" / "ark.db"),
        "ARK_CERT_DIR": str(tmp_path / "certs"),
    })
    assert env["ARK_AUTH_MODE"] == "delegated"
    # The pod's service account stands for the cluster in a pod; here a kubeconfig of the stand-in does.
    cluster.add(auth_configmap(Path(cluster.ca_file).read_bytes(), None))
    kubeconfig = str(cluster.kubeconfig(tmp_path / "cluster-kubeconfig", token=cluster.server_token))
    env.update({"ARK_AUTHENTICATION_KUBECONFIG": kubeconfig, "ARK_AUTHORIZATION_KUBECONFIG": kubeconfig})
    migrated = subprocess.run(["alembic", "-c", "alembic.ini", "upgrade", "head"], cwd=app, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
    assert migrated.returncode == 0, migrated.stderr
    assert "Running upgrade  -> 0001" in migrated.stderr

    log = tmp_path / "gunicorn.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(entrypoint(runtime), cwd=app, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        session = requests.Session()
        session.trust_env = False
        ready = None
        for _ in range(150):  # bounded: 150 tries, each waits at most 2 s
            if process.poll() is not None:
                break
            ca = tmp_path / "certs" / "ca.crt"
            try:
                if ca.exists():
                    ready = session.get(f"https://127.0.0.1:{port}/readyz", verify=str(ca), timeout=2)
                    if ready.status_code == 200:
                        break
            except requests.RequestException:
                pass
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.2)
        assert ready is not None and ready.status_code == 200, log.read_text()
        assert ready.text == "ok"
        anonymous = session.get(f"https://127.0.0.1:{port}/apis", verify=str(tmp_path / "certs" / "ca.crt"),
                                timeout=10)
        assert anonymous.status_code == 403  # the stand-in's SubjectAccessReview said no
        assert cluster.access_reviews[-1]["user"] == "system:anonymous"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert snapshot(app) == before, "the server wrote into its application directory"
