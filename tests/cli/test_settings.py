"""Settings: defaults < YAML file < ARK_* env < flags, the YAML shape, one-line errors, URLs."""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
import yaml
from sqlalchemy.engine import make_url

from ark.settings import ConfigError, Settings


def write_yaml(path: Path, document: dict) -> str:
    path.write_text(yaml.safe_dump(document))
    return str(path)


FULL_YAML = {
    "storage": {
        "driver": "postgresql",
        "sqlite": {"path": "/srv/ark/ark.db"},
        "postgresql": {
            "host": "db.internal",
            "port": 6543,
            "database": "arkdb",
            "username": "ark",
            "password": "s3cret",
            "sslMode": "require",
        },
    },
    "server": {
        "bindAddress": "::1",
        "securePort": 9443,
        "certDir": "/srv/ark/certs",
        "tlsCertFile": "/srv/tls/tls.crt",
        "tlsPrivateKeyFile": "/srv/tls/tls.key",
        "tlsSANs": ["ark.example.test", "127.0.0.9"],
        "workers": 4,
        "authMode": "off",
    },
    "watch": {
        "pollInterval": 0.25,
        "bookmarkInterval": "30s",
        "historyRetention": "15m",
        "historyMinRevisions": 50,
        "queueSize": 200,
    },
}


def test_defaults():
    settings = Settings.load([], env={})
    assert settings == Settings()
    assert settings.storage_driver == "sqlite"
    assert settings.sqlite_path == "data/ark.db"
    assert (settings.postgres_host, settings.postgres_port, settings.postgres_db) == ("127.0.0.1", 5432, "ark")
    assert (settings.postgres_user, settings.postgres_password, settings.postgres_sslmode) == ("postgres", "", "prefer")
    assert settings.postgres_pool_size == 10
    assert settings.postgres_max_overflow == 10
    assert settings.postgres_connect_timeout == 5
    assert (settings.bind_address, settings.secure_port, settings.cert_dir) == ("127.0.0.1", 8443, "data/certs")
    assert settings.tls_cert_file is None and settings.tls_private_key_file is None and settings.tls_sans == ()
    assert (settings.workers, settings.auth_mode, settings.kubeconfig_out) == (1, "off", None)
    assert settings.watch_poll_interval == 0.1
    assert settings.bookmark_interval == 60
    assert settings.history_retention == 900
    assert settings.history_min_revisions == 1000
    assert settings.watch_queue_size == 1000
    assert settings.max_body_bytes == 3 * 1024 * 1024
    assert settings.log_level == "info"


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().workers = 3  # type: ignore[misc]


def test_yaml_shape_maps_every_key(tmp_path):
    settings = Settings.load(["--config", write_yaml(tmp_path / "ark.yaml", FULL_YAML)], env={})
    assert settings.storage_driver == "postgresql"
    assert settings.sqlite_path == "/srv/ark/ark.db"
    assert settings.postgres_host == "db.internal"
    assert settings.postgres_port == 6543
    assert settings.postgres_db == "arkdb"
    assert settings.postgres_user == "ark"
    assert settings.postgres_password == "s3cret"
    assert settings.postgres_sslmode == "require"
    assert settings.bind_address == "::1"
    assert settings.secure_port == 9443
    assert settings.cert_dir == "/srv/ark/certs"
    assert settings.tls_cert_file == "/srv/tls/tls.crt"
    assert settings.tls_private_key_file == "/srv/tls/tls.key"
    assert settings.tls_sans == ("ark.example.test", "127.0.0.9")
    assert settings.workers == 4
    assert settings.auth_mode == "off"
    assert settings.watch_poll_interval == 0.25
    assert settings.bookmark_interval == 30
    assert settings.history_retention == 900
    assert settings.history_min_revisions == 50
    assert settings.watch_queue_size == 200


def test_precedence_file_then_env_then_flags(tmp_path):
    config = write_yaml(tmp_path / "ark.yaml", {
        "storage": {"driver": "postgresql", "postgresql": {"host": "from-file", "port": 1111, "database": "filedb"}},
        "server": {"workers": 3},
    })
    env = {"ARK_CONFIG": config, "ARK_POSTGRES_HOST": "from-env", "ARK_POSTGRES_PORT": "2222"}
    settings = Settings.load(["--postgres-port", "3333"], env=env)
    assert settings.storage_driver == "postgresql"  # file only
    assert settings.postgres_db == "filedb"  # file only
    assert settings.workers == 3  # file only
    assert settings.postgres_host == "from-env"  # env beats file
    assert settings.postgres_port == 3333  # flag beats env and file
    assert settings.secure_port == 8443  # nobody set it: default


def test_config_flag_beats_config_env(tmp_path):
    env_file = write_yaml(tmp_path / "env.yaml", {"server": {"workers": 2}})
    flag_file = write_yaml(tmp_path / "flag.yaml", {"server": {"workers": 5}})
    assert Settings.load(["--config", flag_file], env={"ARK_CONFIG": env_file}).workers == 5
    assert Settings.load([], env={"ARK_CONFIG": env_file}).workers == 2


def test_argv_none_reads_no_flags(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["gunicorn", "--secure-port", "not-a-port"])
    assert Settings.load(env={"ARK_SECURE_PORT": "9000"}).secure_port == 9000


def test_every_field_has_its_env_var():
    env = {
        "ARK_STORAGE_DRIVER": "postgresql", "ARK_SQLITE_PATH": "x.db", "ARK_POSTGRES_HOST": "h",
        "ARK_POSTGRES_PORT": "1", "ARK_POSTGRES_DB": "d", "ARK_POSTGRES_USER": "u", "ARK_POSTGRES_PASSWORD": "p",
        "ARK_POSTGRES_SSLMODE": "disable", "ARK_POSTGRES_POOL_SIZE": "3", "ARK_POSTGRES_MAX_OVERFLOW": "0",
        "ARK_POSTGRES_CONNECT_TIMEOUT": "2", "ARK_BIND_ADDRESS": "127.0.0.2", "ARK_SECURE_PORT": "1443",
        "ARK_CERT_DIR": "c", "ARK_TLS_CERT_FILE": "t.crt", "ARK_TLS_PRIVATE_KEY_FILE": "t.key",
        "ARK_TLS_SAN": "a.test, 10.1.2.3", "ARK_WORKERS": "2", "ARK_AUTH_MODE": "off", "ARK_KUBECONFIG_OUT": "k",
        "ARK_WATCH_POLL_INTERVAL": "0.5", "ARK_BOOKMARK_INTERVAL": "5", "ARK_HISTORY_RETENTION": "60",
        "ARK_HISTORY_MIN_REVISIONS": "7", "ARK_WATCH_QUEUE_SIZE": "9", "ARK_MAX_BODY_BYTES": "100",
        "ARK_LOG_LEVEL": "debug", "ARK_ADMISSION_REFERENCES": "warn",
        "ARK_MODEL_ALLOWED_PRIVATE_RANGES": "10.100.0.0/16, fd00:1::/32", "ARK_MODEL_ALLOWED_DOMAINS": "*.Example.com",
    }
    settings = Settings.load(env=env)
    assert settings == Settings(
        storage_driver="postgresql", sqlite_path="x.db", postgres_host="h", postgres_port=1, postgres_db="d",
        postgres_user="u", postgres_password="p", postgres_sslmode="disable", postgres_pool_size=3,
        postgres_max_overflow=0, postgres_connect_timeout=2, bind_address="127.0.0.2", secure_port=1443,
        cert_dir="c", tls_cert_file="t.crt", tls_private_key_file="t.key", tls_sans=("a.test", "10.1.2.3"),
        workers=2, auth_mode="off", kubeconfig_out="k", watch_poll_interval=0.5, bookmark_interval=5.0,
        history_retention=60.0, history_min_revisions=7, watch_queue_size=9, max_body_bytes=100, log_level="debug",
        admission_references="warn", model_allowed_private_ranges=("10.100.0.0/16", "fd00:1::/32"),
        model_allowed_domains=("*.example.com",),
    )
    # ... and every field its flag
    argv = []
    for name, value in settings.to_env().items():
        flag = "--tls-san" if name == "ARK_TLS_SAN" else "--" + name[4:].lower().replace("_", "-")
        argv += [flag, value]
    assert Settings.load(argv, env={}) == settings


def test_tls_san_flag_repeats_and_replaces_env():
    settings = Settings.load(["--tls-san", "one.test", "--tls-san", "10.0.0.1"], env={"ARK_TLS_SAN": "env.test"})
    assert settings.tls_sans == ("one.test", "10.0.0.1")
    assert Settings.load([], env={"ARK_TLS_SAN": "a.test,b.test"}).tls_sans == ("a.test", "b.test")


def test_to_env_round_trips():
    settings = Settings.load(
        ["--storage-driver", "postgresql", "--postgres-password", "p@ss w:rd", "--tls-san", "x.test",
         "--watch-poll-interval", "0.05", "--kubeconfig-out", "/tmp/kc", "--bind-address", "::1"],
        env={},
    )
    env = settings.to_env()
    assert all(key.startswith("ARK_") and isinstance(value, str) for key, value in env.items())
    assert Settings.load(env=env) == settings
    assert Settings.load(env=Settings().to_env()) == Settings()


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--storage-driver", "mysql"], {}, '--storage-driver: must be sqlite or postgresql, got "mysql"'),
        (["--secure-port", "https"], {}, '--secure-port: must be an integer, got "https"'),
        (["--secure-port", "70000"], {}, "--secure-port: must be between 1 and 65535, got 70000"),
        (["--workers", "0"], {}, "--workers: must be at least 1, got 0"),
        (["--watch-poll-interval", "soon"], {}, "--watch-poll-interval: must be a duration"),
        (["--watch-poll-interval", "0"], {}, "--watch-poll-interval: must be greater than 0"),
        (["--auth-mode", "token"], {}, '--auth-mode: must be off or delegated, got "token"'),
        (["--postgres-sslmode", "maybe"], {}, "--postgres-sslmode: must be one of disable, allow, prefer"),
        (["--tls-san", "not a name"], {}, '--tls-san: must be IP addresses or DNS names, got "not a name"'),
        (["--bind-address", "no such host!"], {}, "--bind-address: must be an IP address or host name"),
        (["--log-level", "loud"], {}, "--log-level: must be one of debug, info"),
        (["--admission-references", "ignore"], {}, '--admission-references: must be reject or warn, got "ignore"'),
        (["--model-allowed-private-ranges", "10.0.0.0/33"], {},
         '--model-allowed-private-ranges: must be IP networks such as 10.100.0.0/16, got "10.0.0.0/33"'),
        ([], {"ARK_MODEL_ALLOWED_DOMAINS": "ok.example.com,*.*.example.com"},
         'ARK_MODEL_ALLOWED_DOMAINS: must be domains such as api.openai.com or *.example.com, got "*.*.example.com"'),
        (["--tls-cert-file", "a.crt"], {}, "--tls-cert-file and --tls-private-key-file must be given together"),
        (["--no-such-flag"], {}, "unrecognized arguments: --no-such-flag"),
        ([], {"ARK_STORAGE_DRIVER": "mysql"}, 'ARK_STORAGE_DRIVER: must be sqlite or postgresql, got "mysql"'),
        ([], {"ARK_POSTGRES_PORT": "x"}, 'ARK_POSTGRES_PORT: must be an integer, got "x"'),
        ([], {"ARK_CONFIG": "/nonexistent/ark.yaml"}, "ARK_CONFIG: cannot read config file /nonexistent/ark.yaml"),
    ],
)
def test_bad_values_raise_one_line(argv, env, message):
    with pytest.raises(ConfigError) as caught:
        Settings.load(argv, env=env)
    text = str(caught.value)
    assert text.startswith(message)
    assert "\n" not in text


def test_admission_settings_from_flags_and_the_yaml_file(tmp_path):
    assert (Settings().admission_references, Settings().model_allowed_private_ranges) == ("reject", ())
    flags = Settings.load(["--model-allowed-private-ranges", "10.100.0.0/16", "--model-allowed-private-ranges",
                           "192.168.50.0/24,172.16.1.0/24", "--model-allowed-domains", "api.openai.com"], env={})
    assert flags.model_allowed_private_ranges == ("10.100.0.0/16", "192.168.50.0/24", "172.16.1.0/24")
    assert flags.model_allowed_domains == ("api.openai.com",)
    config = write_yaml(tmp_path / "ark.yaml", {"admission": {
        "references": "warn", "modelAllowedPrivateRanges": ["10.1.0.0/16"], "modelAllowedDomains": ["*.azure.com"]}})
    from_file = Settings.load(["--config", config], env={})
    assert (from_file.admission_references, from_file.model_allowed_private_ranges,
            from_file.model_allowed_domains) == ("warn", ("10.1.0.0/16",), ("*.azure.com",))


def test_bad_yaml_value_names_file_and_key(tmp_path):
    config = write_yaml(tmp_path / "ark.yaml", {"server": {"securePort": "eighty"}})
    with pytest.raises(ConfigError) as caught:
        Settings.load(["--config", config], env={})
    assert str(caught.value) == f'config file {config}: server.securePort: must be an integer, got "eighty"'


def test_unknown_yaml_key_is_an_error(tmp_path):
    config = write_yaml(tmp_path / "ark.yaml", {"server": {"bindAdress": "0.0.0.0"}})
    with pytest.raises(ConfigError) as caught:
        Settings.load(["--config", config], env={})
    assert 'unknown key "server.bindAdress"' in str(caught.value)
    assert "bindAddress" in str(caught.value)


def test_invalid_yaml_is_one_line(tmp_path):
    config = tmp_path / "ark.yaml"
    config.write_text("storage: [unclosed\n  driver: sqlite\n")
    with pytest.raises(ConfigError) as caught:
        Settings.load(["--config", str(config)], env={})
    assert str(caught.value).startswith(f"config file {config}: invalid YAML")
    assert "\n" not in str(caught.value)


def test_direct_construction_is_validated():
    with pytest.raises(ConfigError, match="--storage-driver: must be sqlite or postgresql"):
        Settings(storage_driver="mysql")
    assert Settings(tls_sans=["a.test"]).tls_sans == ("a.test",)  # type: ignore[arg-type]


def test_sqlite_url_is_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert Settings(sqlite_path="data/ark.db").database_url() == f"sqlite:///{tmp_path}/data/ark.db"
    assert Settings(sqlite_path=str(tmp_path / "x.db")).database_url() == f"sqlite:///{tmp_path}/x.db"


def test_postgresql_url_quotes_and_hides_password():
    password = "p@ss:w/rd%?#"
    settings = Settings(storage_driver="postgresql", postgres_user="ark@team", postgres_password=password,
                        postgres_host="127.0.0.1", postgres_port=5433, postgres_db="ark", postgres_sslmode="require")
    url = settings.database_url()
    assert url.startswith("postgresql+psycopg2://ark%40team:")
    assert url.endswith("@127.0.0.1:5433/ark?sslmode=require")
    parsed = make_url(url)
    assert (parsed.username, parsed.password, parsed.host, parsed.port) == ("ark@team", password, "127.0.0.1", 5433)
    assert parsed.query == {"sslmode": "require"}
    assert password not in repr(settings)
    assert password not in settings.redacted_database_url()
    assert "p%40ss" not in settings.redacted_database_url()


def test_postgresql_url_without_password_and_ipv6_host():
    settings = Settings(storage_driver="postgresql", postgres_host="::1")
    assert settings.database_url() == "postgresql+psycopg2://postgres@[::1]:5432/ark?sslmode=prefer"


def test_urls_and_bind_strings():
    assert Settings().bind() == "127.0.0.1:8443"
    assert Settings(bind_address="::1", secure_port=9443).bind() == "[::1]:9443"
    assert Settings(bind_address="[::1]").bind_address == "::1"
    assert Settings(bind_address="0.0.0.0").server_url() == "https://127.0.0.1:8443"
    assert Settings(bind_address="::").server_url() == "https://[::1]:8443"
    postgres = Settings(storage_driver="postgresql", postgres_port=5999)
    assert postgres.describe_database() == "PostgreSQL at 127.0.0.1:5999"


def test_parser_help_names_env_and_defaults():
    text = Settings.parser(prog="ark-apiserver serve").format_help()
    for needle in ("--storage-driver", "ARK_STORAGE_DRIVER", "--tls-san", "ARK_TLS_SAN", "--config", "ARK_CONFIG",
                   "default 8443", "sqlite, postgresql"):
        assert needle in text
