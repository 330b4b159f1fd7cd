"""The command line: one clear line and exit code 2 for every configuration problem; gunicorn config."""
from __future__ import annotations

import importlib.util
import logging
import os
import runpy
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from ark import server
from ark.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def clean_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("ARK_")}
    env.update(extra)
    return env


def run_ark(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ark", *args], cwd=REPO, env=env or clean_env(),
                          capture_output=True, text=True, timeout=timeout, check=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    (line,) = lines
    assert line.startswith("ark-apiserver: error: "), line
    for needle in needles:
        assert needle in line, line
    return line


def test_bad_storage_driver(tmp_path):
    result = run_ark("serve", "--storage-driver", "mysql", "--cert-dir", str(tmp_path))
    line = assert_one_line_error(result)
    assert line == 'ark-apiserver: error: --storage-driver: must be sqlite or postgresql, got "mysql"'


def test_bad_env_value():
    result = run_ark("serve", env=clean_env(ARK_WORKERS="many"))
    assert_one_line_error(result, 'ARK_WORKERS: must be an integer, got "many"')


def test_unknown_flag():
    assert_one_line_error(run_ark("serve", "--no-such-flag"), "unrecognized arguments: --no-such-flag")


def test_missing_config_file(tmp_path):
    assert_one_line_error(run_ark("serve", "--config", str(tmp_path / "missing.yaml")),
                          "--config: cannot read config file", "missing.yaml")


def test_unreachable_postgresql(tmp_path):
    result = run_ark("serve", "--storage-driver", "postgresql", "--postgres-port", "1",
                     "--secure-port", str(free_port()), "--cert-dir", str(tmp_path / "certs"))
    line = assert_one_line_error(result, "cannot reach PostgreSQL at 127.0.0.1:1")
    assert "connection refused" in line.lower()
    assert not (tmp_path / "certs").exists()  # stopped before making certificates


def test_unreachable_postgresql_for_migrate():
    result = run_ark("migrate", "--storage-driver", "postgresql", "--postgres-port", "1")
    assert_one_line_error(result, "cannot reach PostgreSQL at 127.0.0.1:1")


def test_port_in_use(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_ark("serve", "--sqlite-path", str(tmp_path / "ark.db"), "--secure-port", str(port),
                         "--cert-dir", str(tmp_path / "certs"))
    assert_one_line_error(result, f"cannot listen on 127.0.0.1:{port}", "address already in use")


def test_schema_behind_then_migrate(tmp_path):
    database = str(tmp_path / "ark.db")
    result = run_ark("serve", "--sqlite-path", database, "--secure-port", str(free_port()),
                     "--cert-dir", str(tmp_path / "certs"))
    assert_one_line_error(result, "migrate")

    migrated = run_ark("migrate", "--sqlite-path", database)
    assert migrated.returncode == 0, migrated.stderr
    assert "Traceback" not in migrated.stderr
    again = run_ark("migrate", "--sqlite-path", database)  # idempotent
    assert again.returncode == 0, again.stderr


def test_serve_help_lists_the_flags():
    for args in (("serve", "--help"), ("--help",)):
        result = run_ark(*args)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("usage: ark-apiserver serve")
        for flag in ("--storage-driver", "--sqlite-path", "--postgres-host", "--secure-port", "--tls-san",
                     "--kubeconfig-out", "--config", "--bind-address", "--workers", "migrate"):
            assert flag in result.stdout, flag


def test_migrate_help_lists_storage_flags_only():
    result = run_ark("migrate", "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: ark-apiserver migrate")
    for flag in ("--storage-driver", "--sqlite-path", "--postgres-host", "--postgres-db", "--config"):
        assert flag in result.stdout
    assert "--secure-port" not in result.stdout
    assert_one_line_error(run_ark("migrate", "--secure-port", "1"), "unrecognized arguments")


def test_gunicorn_conf_reads_settings_from_env(tmp_path, monkeypatch):
    for key in [key for key in os.environ if key.startswith("ARK_")]:
        monkeypatch.delenv(key)
    config_file = tmp_path / "ark.yaml"
    config_file.write_text(yaml.safe_dump({"server": {"workers": 3}}))
    monkeypatch.setenv("ARK_CONFIG", str(config_file))
    monkeypatch.setenv("ARK_BIND_ADDRESS", "::1")
    monkeypatch.setenv("ARK_SECURE_PORT", "9444")
    monkeypatch.setenv("ARK_CERT_DIR", str(tmp_path / "certs"))
    monkeypatch.setenv("ARK_STORAGE_DRIVER", "postgresql")
    # The config prepares the workers' metrics directory in this process: keep it to this test.
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "counter_1.db").write_bytes(b"stale")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
    monkeypatch.chdir(tmp_path)  # the config file must not depend on the working directory
    root = logging.getLogger()  # the config sets up this process's logging: undone after the test
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)

    namespace = runpy.run_path(str(REPO / "config" / "gunicorn.conf.py"))
    assert list((tmp_path / "metrics").iterdir()) == []  # an operator's metrics directory is wiped, not replaced
    assert namespace["bind"] == ["[::1]:9444"]
    assert namespace["workers"] == 3
    assert namespace["worker_class"] == "ark.server.ArkGeventWorker"  # gunicorn's gevent worker with slow-client guards
    from gunicorn.workers.ggevent import GeventWorker

    from ark.server import ArkGeventWorker
    assert issubclass(ArkGeventWorker, GeventWorker)
    assert callable(namespace["ssl_context"])
    assert namespace["worker_connections"] == 10000
    assert namespace["certfile"] == str(tmp_path / "certs" / "apiserver.crt")
    assert namespace["keyfile"] == str(tmp_path / "certs" / "apiserver.key")
    assert Path(namespace["certfile"]).is_file()
    assert namespace["timeout"] == 60 and namespace["graceful_timeout"] == 10 and namespace["keepalive"] == 75
    from ark.observability.logs import GunicornLogger
    assert namespace["logger_class"] is GunicornLogger  # no access log: the app writes one line per request
    assert namespace["preload_app"] is False
    assert namespace["wsgi_app"] == "wsgi:app"
    assert callable(namespace["post_fork"]) and callable(namespace["when_ready"])

    # Every name the file sets is a gunicorn setting with a valid value.
    from gunicorn.config import Config

    config = Config()
    for key, value in namespace.items():
        if key in config.settings:
            config.set(key, value)
    assert config.is_ssl
    assert config.worker_class_str == "ark.server.ArkGeventWorker" and config.worker_class is ArkGeventWorker


def test_in_process_gunicorn_serves_tls_and_patches_psycopg(tmp_path):
    """ArkApplication with the serve options (a stand-in app): TLS with the generated cert, gevent
    workers, and psycopg2 made gevent-friendly in each worker (post_fork) for PostgreSQL."""
    port = free_port()
    script = tmp_path / "stub_serve.py"
    script.write_text(textwrap.dedent(f"""
        import os
        from ark.security.tls import ensure_serving_cert
        from ark.server import ArkApplication, gunicorn_options
        from ark.settings import Settings

        settings = Settings.load(["--storage-driver", "postgresql", "--secure-port", "{port}",
                                  "--cert-dir", {str(tmp_path / "certs")!r}, "--workers", "2"], env={{}})
        os.environ.update(settings.to_env())

        def factory():
            def app(environ, start_response):
                import psycopg2.extensions
                callback = psycopg2.extensions.get_wait_callback()
                body = f"pid={{os.getpid()}} wait={{getattr(callback, '__module__', None)}} "
                body += f"query={{len(environ.get('QUERY_STRING', ''))}}"
                start_response("200 OK", [("Content-Type", "text/plain")])
                return [body.encode()]
            return app

        ArkApplication(gunicorn_options(settings, ensure_serving_cert(settings)), app_factory=factory).run()
    """))
    process = subprocess.Popen([sys.executable, str(script)], cwd=REPO, env=clean_env(PYTHONPATH=str(REPO)),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_file(tmp_path / "certs" / "apiserver.crt", process)
        context = ssl.create_default_context(cafile=str(tmp_path / "certs" / "ca.crt"))
        long_selector = "labelSelector=" + ",".join(f"key{i}=value{i}" for i in range(1000))  # ~16 KB
        body = wait_for_https(context, port, "/?" + long_selector, process)
        assert "wait=psycogreen.gevent" in body
        assert f"query={len(long_selector)}" in body
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert f"ark-apiserver: serving https://127.0.0.1:{port} (2 workers, PostgreSQL at 127.0.0.1:5432)" in output


def wait_for_https(context: ssl.SSLContext, port: int, path: str, process: subprocess.Popen,
                   host: str = "127.0.0.1") -> str:
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}: {process.stdout.read()}")
        try:
            with socket.create_connection((host, port), timeout=5) as raw, \
                    context.wrap_socket(raw, server_hostname=host) as conn:
                conn.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
                data = b""
                while chunk := conn.recv(65536):
                    data += chunk
            head, _, body = data.decode().partition("\r\n\r\n")
            assert head.startswith("HTTP/1.1 "), head
            return body
        except (ConnectionRefusedError, ConnectionResetError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.skipif(importlib.util.find_spec("ark.app") is None, reason="ark/app.py not written yet")
def test_serve_end_to_end_with_kubeconfig(tmp_path):
    """`python -m ark serve` on a migrated SQLite database answers over TLS with the kubeconfig's CA."""
    database = str(tmp_path / "ark.db")
    assert run_ark("migrate", "--sqlite-path", database).returncode == 0
    port = free_port()
    kubeconfig = tmp_path / "kubeconfig"
    process = subprocess.Popen(
        [sys.executable, "-m", "ark", "serve", "--sqlite-path", database, "--secure-port", str(port),
         "--cert-dir", str(tmp_path / "certs"), "--kubeconfig-out", str(kubeconfig)],
        cwd=REPO, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        config = yaml.safe_load(kubeconfig.read_text()) if wait_for_file(kubeconfig, process) else None
        assert config["clusters"][0]["cluster"]["server"] == f"https://127.0.0.1:{port}"
        context = ssl.create_default_context(cafile=str(tmp_path / "certs" / "ca.crt"))
        wait_for_https(context, port, "/version", process)
        kubectl = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which("kubectl")
        if kubectl:  # what `make dev` tells the user to run
            result = subprocess.run([kubectl, "get", "queries"], capture_output=True, text=True, timeout=60,
                                    env={**clean_env(), "KUBECONFIG": str(kubeconfig)}, check=False)
            assert result.returncode == 0, result.stderr
            assert "No resources found" in result.stdout + result.stderr
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert f"serving https://127.0.0.1:{port}" in output


def wait_for_file(path: Path, process: subprocess.Popen) -> bool:
    deadline = time.monotonic() + 30
    while not path.exists():
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}: {process.stdout.read()}")
        assert time.monotonic() < deadline, "kubeconfig not written"
        time.sleep(0.1)
    return True


def test_server_bind_check_in_process():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(server.ServeError, match="address already in use"):
            server.check_port_free(Settings(secure_port=port))
    server.check_port_free(Settings(secure_port=port))  # free again
