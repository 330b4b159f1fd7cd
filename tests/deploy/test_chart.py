"""The Helm chart, rendered by the real helm for each storage and TLS choice, read back as objects.

Every variant is linted and rendered; the objects are checked against each other (selectors,
ports, Secrets, APIServices, the migration), against the server (its settings and its kinds),
and against the Kubernetes 1.37 schemas (kubernetes-validate, strict: unknown fields fail).
kubectl cannot do that last part here: even ``kubectl create --dry-run=client --validate=false``
asks a server for discovery, and schema validation needs the server's OpenAPI.
"""
from __future__ import annotations

import base64
import copy
import dataclasses
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from cryptography import x509

from ark.kinds import GROUP, REGISTRY
from ark.security.tls import ensure_serving_cert
from ark.settings import CONFIG_ENV, Settings
from tests.deploy.conftest import CHART, NAMESPACE, POSTGRESQL_VALUES, RELEASE, objects_of, one, value_args

KUBERNETES_VERSION = "1.37.0"
SERVICE = RELEASE  # the release name contains the chart name, so the full name is the release name
SAN_SVC = f"{SERVICE}.{NAMESPACE}.svc"


@pytest.fixture(scope="session")
def ca_pem(tmp_path_factory) -> str:
    """The PEM of a CA that an operator would give with tls.mode=existingSecret."""
    cert = ensure_serving_cert(Settings(cert_dir=str(tmp_path_factory.mktemp("existing-ca"))))
    return Path(cert.ca_file).read_text()


VARIANTS = ("sqlite", "postgresql", "postgresql-cert-manager", "cert-manager-own-issuer", "existing-secret")


def variant_values(name: str, ca_pem: str) -> tuple[tuple[Path, ...], dict[str, Any]]:
    return {
        "sqlite": ((), {}),
        "postgresql": ((POSTGRESQL_VALUES,), {}),
        "postgresql-cert-manager": ((POSTGRESQL_VALUES,), {"tls.mode": "certManager"}),
        "cert-manager-own-issuer": ((), {"tls.mode": "certManager", "tls.certManager.issuerRef":
                                         {"name": "corp-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}}),
        "existing-secret": ((), {"tls.mode": "existingSecret", "tls.existingSecret.name": "ark-serving-tls",
                                 "tls.existingSecret.caBundle": ca_pem}),
    }[name]


@pytest.fixture(scope="session", params=VARIANTS)
def variant(request, render, ca_pem) -> tuple[str, list[dict[str, Any]]]:
    values, sets = variant_values(request.param, ca_pem)
    return request.param, render(*values, sets=sets)


@pytest.fixture(scope="session")
def sqlite_objects(render) -> list[dict[str, Any]]:
    return render()


@pytest.fixture(scope="session")
def postgresql_objects(render) -> list[dict[str, Any]]:
    return render(POSTGRESQL_VALUES)


def pod_spec(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return one(objects, "Deployment")["spec"]["template"]["spec"]


def server_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (container,) = [c for c in pod_spec(objects)["containers"] if c["name"] == "apiserver"]
    return container


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def storage_env(container: dict[str, Any]) -> dict[str, Any]:
    prefixes = ("ARK_STORAGE_", "ARK_SQLITE_", "ARK_POSTGRES_")
    return {k: v for k, v in env_of(container).items() if k.startswith(prefixes)}


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


# ------------------------------------------------------------------------------------------ helm itself
@pytest.mark.parametrize("name", VARIANTS)
def test_helm_lint_strict_passes_for_every_variant(helm, ca_pem, name):
    values, sets = variant_values(name, ca_pem)
    result = helm("lint", "--strict", str(CHART), *value_args(values, sets))
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


def test_the_rendered_objects_validate_against_the_kubernetes_schemas(variant):
    _, objects = variant
    checked = set()
    for obj in objects:
        if obj["apiVersion"].startswith("cert-manager.io/"):
            continue  # a CRD kind: no schema in kubernetes-validate; its fields are checked below
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{obj['kind']} {obj['metadata']['name']}: {exc.message} at {list(exc.absolute_path)}")
        checked.add(obj["kind"])
    assert {"Deployment", "Service", "APIService", "ClusterRole", "RoleBinding", "ServiceAccount"} <= checked


def test_the_schema_validation_rejects_a_misspelled_field(sqlite_objects):
    """The check above can fail: one unknown field in the pod template is found."""
    deployment = copy.deepcopy(one(sqlite_objects, "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError, match="readinessprobe"):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


# ------------------------------------------------------------------------------------------ cross-checks
def test_selectors_match_the_pod_labels(variant):
    _, objects = variant
    deployment = one(objects, "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert matches(deployment["spec"]["selector"]["matchLabels"], labels)
    assert matches(one(objects, "Service")["spec"]["selector"], labels)
    for pdb in objects_of(objects, "PodDisruptionBudget"):
        assert matches(pdb["spec"]["selector"]["matchLabels"], labels)
    anti = pod_spec(objects).get("affinity", {}).get("podAntiAffinity", {})
    for term in anti.get("preferredDuringSchedulingIgnoredDuringExecution", []):
        assert matches(term["podAffinityTerm"]["labelSelector"]["matchLabels"], labels)


def test_the_service_reaches_the_container_port_the_server_listens_on(variant):
    _, objects = variant
    service = one(objects, "Service")
    container = server_container(objects)
    (port,) = service["spec"]["ports"]
    assert port["port"] == 443
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    target = port["targetPort"]
    container_port = ports[target] if isinstance(target, str) else target
    assert container_port in ports.values()
    assert env_of(container)["ARK_SECURE_PORT"] == str(container_port)
    for probe, path in (("startupProbe", "/livez"), ("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
        get = container[probe]["httpGet"]
        assert (get["path"], get["scheme"]) == (path, "HTTPS")
        assert ports.get(get["port"], get["port"]) == container_port


def test_every_secret_the_pods_use_exists_or_is_the_operators(variant, ca_pem):
    name, objects = variant
    values, sets = variant_values(name, ca_pem)
    rendered = {s["metadata"]["name"]: set(s.get("data", {})) for s in objects_of(objects, "Secret")}
    # cert-manager writes tls.crt, tls.key and ca.crt into a Certificate's Secret.
    for certificate in objects_of(objects, "Certificate"):
        rendered[certificate["spec"]["secretName"]] = {"tls.crt", "tls.key", "ca.crt"}
    operators = set()
    if values == (POSTGRESQL_VALUES,):
        operators.add("ark-db-credentials")
    if sets.get("tls.mode") == "existingSecret":
        operators.add(sets["tls.existingSecret.name"])

    pods = [pod_spec(objects)] + [job["spec"]["template"]["spec"] for job in objects_of(objects, "Job")]
    used = []
    for pod in pods:
        for volume in pod.get("volumes", []):
            if "secret" in volume:
                keys = {item["key"] for item in volume["secret"].get("items", [])}
                used.append((volume["secret"]["secretName"], keys))
        for container in pod.get("initContainers", []) + pod["containers"]:
            for entry in container.get("env", []):
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    used.append((ref["name"], {ref["key"]}))
    assert used
    for secret, keys in used:
        if secret in operators:
            continue
        assert secret in rendered, f"{secret} is neither rendered nor the operator's ({sorted(operators)})"
        assert keys <= rendered[secret], f"{secret} lacks {keys - rendered[secret]}"


def test_the_apiservices_point_at_the_service_for_every_served_version(variant):
    _, objects = variant
    service = one(objects, "Service")
    apiservices = {a["metadata"]["name"]: a for a in objects_of(objects, "APIService")}
    assert set(apiservices) == {f"{v}.{GROUP}" for v in REGISTRY.versions()}
    for version, priority in (("v1alpha1", 15), ("v1prealpha1", 10)):
        spec = apiservices[f"{version}.{GROUP}"]["spec"]
        assert (spec["group"], spec["version"], spec["versionPriority"]) == (GROUP, version, priority)
        assert spec["groupPriorityMinimum"] == 1000
        assert spec["service"] == {"name": service["metadata"]["name"], "namespace": service["metadata"]["namespace"],
                                   "port": service["spec"]["ports"][0]["port"]}
        assert "insecureSkipTLSVerify" not in spec


def sans_of(pem: bytes) -> list[str]:
    cert = x509.load_pem_x509_certificate(pem)
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)


def test_self_signed_tls_puts_the_ca_of_the_serving_certificate_into_the_ca_bundles(sqlite_objects):
    secret = one(sqlite_objects, "Secret", f"{SERVICE}-tls")
    assert secret["type"] == "kubernetes.io/tls"
    ca_pem = base64.b64decode(secret["data"]["ca.crt"])
    serving_pem = base64.b64decode(secret["data"]["tls.crt"])
    ca = x509.load_pem_x509_certificate(ca_pem)
    x509.load_pem_x509_certificate(serving_pem).verify_directly_issued_by(ca)
    assert {SAN_SVC, f"{SAN_SVC}.cluster.local"} <= set(sans_of(serving_pem))
    for apiservice in objects_of(sqlite_objects, "APIService"):
        assert base64.b64decode(apiservice["spec"]["caBundle"]) == ca_pem
    volume = next(v for v in pod_spec(sqlite_objects)["volumes"] if v["name"] == "tls")
    assert volume["secret"]["secretName"] == secret["metadata"]["name"]


def test_cert_manager_tls_asks_cainjector_for_the_ca_bundle(render):
    objects = render(POSTGRESQL_VALUES, sets={"tls.mode": "certManager"})
    serving = one(objects, "Certificate", f"{SERVICE}-tls")
    assert {SAN_SVC, f"{SAN_SVC}.cluster.local"} <= set(serving["spec"]["dnsNames"])
    assert "server auth" in serving["spec"]["usages"]
    issuer = one(objects, "Issuer", serving["spec"]["issuerRef"]["name"])
    ca_certificate = one(objects, "Certificate", issuer["spec"]["ca"]["secretName"])
    assert ca_certificate["spec"]["isCA"] is True
    assert one(objects, "Issuer", ca_certificate["spec"]["issuerRef"]["name"])["spec"] == {"selfSigned": {}}
    for apiservice in objects_of(objects, "APIService"):
        annotations = apiservice["metadata"]["annotations"]
        assert annotations["cert-manager.io/inject-ca-from"] == f"{NAMESPACE}/{serving['metadata']['name']}"
        assert "caBundle" not in apiservice["spec"]
    volume = next(v for v in pod_spec(objects)["volumes"] if v["name"] == "tls")
    assert volume["secret"]["secretName"] == serving["spec"]["secretName"]
    assert not objects_of(objects, "Secret")


def test_cert_manager_with_an_issuer_of_ones_own_creates_no_issuers(render):
    issuer = {"name": "corp-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}
    objects = render(sets={"tls.mode": "certManager", "tls.certManager.issuerRef": issuer})
    assert not objects_of(objects, "Issuer")
    assert one(objects, "Certificate")["spec"]["issuerRef"] == issuer


def test_an_existing_secret_is_mounted_and_its_ca_goes_into_the_bundles(render, ca_pem):
    objects = render(sets={"tls.mode": "existingSecret", "tls.existingSecret.name": "ark-serving-tls",
                           "tls.existingSecret.caBundle": ca_pem})
    assert not objects_of(objects, "Secret")
    volume = next(v for v in pod_spec(objects)["volumes"] if v["name"] == "tls")
    assert volume["secret"]["secretName"] == "ark-serving-tls"
    for apiservice in objects_of(objects, "APIService"):
        assert base64.b64decode(apiservice["spec"]["caBundle"]).decode() == ca_pem


def test_the_sans_follow_the_namespace_and_take_extra_names(render):
    objects = render(namespace="ark-elsewhere", sets={"tls.extraSANs": ["ark.example.com"]})
    pem = base64.b64decode(one(objects, "Secret")["data"]["tls.crt"])
    assert {f"{SERVICE}.ark-elsewhere.svc", f"{SERVICE}.ark-elsewhere.svc.cluster.local",
            "ark.example.com"} <= set(sans_of(pem))
    assert one(objects, "Service")["metadata"]["namespace"] == "ark-elsewhere"
    assert {a["spec"]["service"]["namespace"] for a in objects_of(objects, "APIService")} == {"ark-elsewhere"}


# ------------------------------------------------------------------------------------------ storage and migration
def test_sqlite_is_one_pod_on_a_claim_recreated_on_update_and_migrated_by_an_init_container(sqlite_objects):
    deployment = one(sqlite_objects, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert not objects_of(sqlite_objects, "Job")
    assert not objects_of(sqlite_objects, "PodDisruptionBudget")
    claim = one(sqlite_objects, "PersistentVolumeClaim")
    pod = pod_spec(sqlite_objects)
    data = next(v for v in pod["volumes"] if v["name"] == "data")
    assert data["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]

    (migrate,) = pod["initContainers"]
    server = server_container(sqlite_objects)
    assert migrate["command"] == ["python", "-m", "ark", "migrate"]
    assert migrate["image"] == server["image"]
    assert storage_env(migrate) == storage_env(server)
    db_dir = str(Path(env_of(server)["ARK_SQLITE_PATH"]).parent)
    for container in (migrate, server):
        assert {"name": "data", "mountPath": db_dir} in container["volumeMounts"]


def test_postgresql_migrates_in_a_hook_job_before_install_and_upgrade(postgresql_objects):
    (job,) = objects_of(postgresql_objects, "Job")
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    # Only the migration is a hook: everything else is created after it succeeded.
    hooks = [o["kind"] for o in postgresql_objects if "helm.sh/hook" in o["metadata"].get("annotations", {})]
    assert hooks == ["Job"]
    (migrate,) = job["spec"]["template"]["spec"]["containers"]
    server = server_container(postgresql_objects)
    assert migrate["command"] == ["python", "-m", "ark", "migrate"]
    assert migrate["image"] == server["image"]
    assert storage_env(migrate) == storage_env(server)
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert "initContainers" not in pod_spec(postgresql_objects)


def test_postgresql_takes_the_seed_values_and_the_password_from_the_existing_secret(postgresql_objects):
    deployment = one(postgresql_objects, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    assert one(postgresql_objects, "PodDisruptionBudget")["spec"]["minAvailable"] == 1
    assert not objects_of(postgresql_objects, "PersistentVolumeClaim")
    env = storage_env(server_container(postgresql_objects))
    assert env == {
        "ARK_STORAGE_DRIVER": "postgresql",
        "ARK_POSTGRES_HOST": "postgres.example.com",
        "ARK_POSTGRES_PORT": "5432",
        "ARK_POSTGRES_DB": "ark",
        "ARK_POSTGRES_USER": "ark",
        "ARK_POSTGRES_SSLMODE": "prefer",
        "ARK_POSTGRES_PASSWORD": {"secretKeyRef": {"name": "ark-db-credentials", "key": "password"}},
    }
    anti = pod_spec(postgresql_objects)["affinity"]["podAntiAffinity"]
    assert anti["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]["topologyKey"] == \
        "kubernetes.io/hostname"


def server_config(objects: list[dict[str, Any]], directory: Path) -> Path:
    """The config file the pods read (ARK_CONFIG), from the ConfigMap mounted where it points."""
    container = server_container(objects)
    path = env_of(container)[CONFIG_ENV]
    mount = next(m for m in container["volumeMounts"] if path.startswith(m["mountPath"] + "/"))
    volume = next(v for v in pod_spec(objects)["volumes"] if v["name"] == mount["name"])
    configmap = one(objects, "ConfigMap", volume["configMap"]["name"])
    file = directory / "config.yaml"
    file.write_text(configmap["data"][path[len(mount["mountPath"]) + 1:]])
    return file


def pod_settings(objects: list[dict[str, Any]], directory: Path) -> Settings:
    """The Settings a pod's server loads: its ARK_* variables (each a server setting) over the
    config file from its ConfigMap."""
    known = set(Settings().to_env())
    env = {CONFIG_ENV: str(server_config(objects, directory))}
    for name, value in env_of(server_container(objects)).items():
        if name != CONFIG_ENV:
            assert name in known, f"the server has no setting {name}"
            env[name] = value if isinstance(value, str) else "from-a-secret"
    return Settings.load(env=env)


def test_the_server_settings_are_ones_the_server_reads(variant, tmp_path):
    """Every ARK_* variable the chart sets is a server setting, the ConfigMap is a config file the
    server reads, and together they load."""
    _, objects = variant
    assert env_of(server_container(objects))["ARK_AUTH_MODE"] == "delegated"
    settings = pod_settings(objects, tmp_path)
    assert (settings.bind_address, settings.auth_mode) == ("0.0.0.0", "delegated")
    settings.check_bind()  # all addresses are fine with delegated authentication
    # The pod's service account is the cluster's API (no kubeconfig), and it audits to stdout.
    assert (settings.authentication_kubeconfig, settings.authorization_kubeconfig) == (None, None)
    assert settings.audit_log_path == "-"
    assert (settings.tls_cert_file, settings.tls_private_key_file) == ("/etc/ark/tls/tls.crt", "/etc/ark/tls/tls.key")
    tls = next(v for v in pod_spec(objects)["volumes"] if v["name"] == "tls")
    mount = next(m for m in server_container(objects)["volumeMounts"] if m["name"] == "tls")
    assert {f"{mount['mountPath']}/{item['path']}" for item in tls["secret"]["items"]} == \
        {settings.tls_cert_file, settings.tls_private_key_file}


def test_the_config_file_takes_the_servers_defaults_but_json_logs(sqlite_objects, tmp_path):
    """values.yaml spells the server's defaults out; only the log format differs (JSON for collectors)."""
    config = server_config(sqlite_objects, tmp_path)
    assert set(yaml.safe_load(config.read_text())) == {"server", "watch", "admission"}
    assert Settings.load(env={CONFIG_ENV: str(config)}) == dataclasses.replace(Settings(), log_format="json")
    assert env_of(pod_spec(sqlite_objects)["initContainers"][0])["ARK_LOG_FORMAT"] == "json"  # migrations too


def test_the_settings_in_values_reach_the_server(render, tmp_path):
    objects = render(sets={"server.logFormat": "text", "server.logLevel": "debug", "server.maxBodyBytes": 10485760,
                           "server.requestTimeout": "2m", "watch.timeout": 3600, "watch.maxWatches": 500,
                           "admission.references": "warn", "admission.modelAllowedPrivateRanges": ["10.100.0.0/16"],
                           "admission.modelAllowedDomains": ["*.openai.azure.com", "api.openai.com"]})
    settings = pod_settings(objects, tmp_path)
    assert (settings.log_format, settings.log_level) == ("text", "debug")
    assert (settings.max_body_bytes, settings.request_timeout) == (10485760, 120.0)
    assert (settings.watch_timeout, settings.max_watches) == (3600.0, 500)
    assert settings.admission_references == "warn"
    assert settings.model_allowed_private_ranges == ("10.100.0.0/16",)
    assert settings.model_allowed_domains == ("*.openai.azure.com", "api.openai.com")


def test_sqlite_durability_is_full_unless_traded_for_speed(render, sqlite_objects, tmp_path):
    assert pod_settings(sqlite_objects, tmp_path).sqlite_synchronous == "full"
    traded = render(sets={"storage.sqlite.synchronous": "normal"})
    assert pod_settings(traded, tmp_path).sqlite_synchronous == "normal"
    migrate = pod_spec(traded)["initContainers"][0]
    assert env_of(migrate)["ARK_SQLITE_SYNCHRONOUS"] == "normal"


def test_a_changed_config_file_rolls_the_pods(render, sqlite_objects):
    def checksum(objects: list[dict[str, Any]]) -> str:
        return one(objects, "Deployment")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    assert checksum(render()) == checksum(sqlite_objects)  # the same values, the same pods
    assert checksum(render(sets={"watch.timeout": 3600})) != checksum(sqlite_objects)
    with_own = render(sets={"podAnnotations": {"team": "ark"}})
    assert one(with_own, "Deployment")["spec"]["template"]["metadata"]["annotations"]["team"] == "ark"


def test_server_env_still_overrides_the_config_file(render, tmp_path):
    settings = pod_settings(render(sets={"server.env": {"ARK_WATCH_TIMEOUT": "60"}}), tmp_path)
    assert settings.watch_timeout == 60.0


def test_the_audit_log_goes_to_stdout_unless_turned_off(render):
    assert "ARK_AUDIT_LOG_PATH" not in env_of(server_container(render(sets={"server.auditLogPath": ""})))
    assert env_of(server_container(render()))["ARK_AUDIT_LOG_PATH"] == "-"


def test_the_setting_names_are_values_so_a_renamed_flag_is_one_line(render):
    objects = render(sets={"server.settingNames.authMode": "ARK_AUTHENTICATION_MODE"})
    env = env_of(server_container(objects))
    assert env["ARK_AUTHENTICATION_MODE"] == "delegated"
    assert "ARK_AUTH_MODE" not in env


# ------------------------------------------------------------------------------------------ hardening
def test_every_container_runs_hardened(variant):
    _, objects = variant
    pods = [pod_spec(objects)] + [j["spec"]["template"]["spec"] for j in objects_of(objects, "Job")]
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        tmp = next(v for v in pod["volumes"] if v["name"] == "tmp")
        assert "emptyDir" in tmp
        for container in pod.get("initContainers", []) + pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["readOnlyRootFilesystem"] is True
            assert context["runAsNonRoot"] is True
            assert context["capabilities"]["drop"] == ["ALL"]
            assert "add" not in context["capabilities"]
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    # The migration Job needs no API access; the server does (delegated auth).
    for job in objects_of(objects, "Job"):
        assert job["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


# ------------------------------------------------------------------------------------------ RBAC
def test_the_service_account_gets_what_delegated_auth_needs(sqlite_objects):
    account = one(sqlite_objects, "ServiceAccount")
    subject = {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": NAMESPACE}
    assert pod_spec(sqlite_objects)["serviceAccountName"] == account["metadata"]["name"]
    bindings = objects_of(sqlite_objects, "ClusterRoleBinding") + objects_of(sqlite_objects, "RoleBinding")
    by_role = {(b["roleRef"]["kind"], b["roleRef"]["name"], b["metadata"].get("namespace")): b for b in bindings}
    for key in (("ClusterRole", "system:auth-delegator", None),
                ("Role", "extension-apiserver-authentication-reader", "kube-system"),
                ("ClusterRole", SERVICE, None)):
        assert by_role[key]["subjects"] == [subject], key
    rules = one(sqlite_objects, "ClusterRole", SERVICE)["rules"]
    granted = {(group, resource, verb) for rule in rules for group in rule["apiGroups"]
               for resource in rule["resources"] for verb in rule["verbs"]}
    assert {("", "namespaces", verb) for verb in ("get", "list", "watch")} <= granted
    assert {("", resource, "get") for resource in ("secrets", "configmaps", "services")} <= granted  # admission
    assert ("authentication.k8s.io", "tokenreviews", "create") in granted
    assert ("authorization.k8s.io", "subjectaccessreviews", "create") in granted


def test_the_aggregated_roles_cover_every_ark_kind(sqlite_objects):
    plurals = {kind.plural for kind in REGISTRY}
    status = {f"{p}/status" for p in plurals}
    roles = {}
    for role in objects_of(sqlite_objects, "ClusterRole"):
        for label in ("aggregate-to-view", "aggregate-to-edit", "aggregate-to-admin"):
            if role["metadata"]["labels"].get(f"rbac.authorization.k8s.io/{label}") == "true":
                roles[label] = role["rules"]
    assert set(roles) == {"aggregate-to-view", "aggregate-to-edit", "aggregate-to-admin"}
    expected = {
        "aggregate-to-view": (plurals | status, {"get", "list", "watch"}),
        "aggregate-to-edit": (plurals, {"create", "update", "patch", "delete", "deletecollection"}),
        "aggregate-to-admin": (status, {"update", "patch"}),
    }
    for label, (resources, verbs) in expected.items():
        (rule,) = roles[label]
        assert rule["apiGroups"] == [GROUP]
        assert (set(rule["resources"]), set(rule["verbs"])) == (resources, verbs), label


# ------------------------------------------------------------------------------------------ values and refusals
def test_a_namespace_object_only_when_asked(render, sqlite_objects):
    assert not objects_of(sqlite_objects, "Namespace")
    namespace = one(render(sets={"namespace.create": True}), "Namespace")
    assert namespace["metadata"]["name"] == NAMESPACE


@pytest.mark.parametrize(("sets", "message"), [
    ({"storage.driver": "postgresql", "storage.postgresql.host": "db"},
     "storage.postgresql.existingSecret is required with storage.driver=postgresql"),
    ({"storage.driver": "postgresql", "storage.postgresql.existingSecret": "s"},
     "storage.postgresql.host is required with storage.driver=postgresql"),
    ({"storage.driver": "mysql"}, "at '/storage/driver': value must be one of 'sqlite', 'postgresql'"),
    ({"storage.postgresql.hostname": "db"}, "additional properties 'hostname' not allowed"),
    ({"tls.mode": "existingSecret"}, "tls.existingSecret.name is required with tls.mode=existingSecret"),
    ({"tls.mode": "existingSecret", "tls.existingSecret.name": "mine"},
     "set tls.existingSecret.caBundle (PEM) or put it under ca.crt in Secret ark-system/mine"),
    ({"server.env": {"HISTORY_RETENTION": "900"}}, "'HISTORY_RETENTION' does not match pattern '^ARK_[A-Z0-9_]+$'"),
    ({"server.authMode": "token"}, "at '/server/authMode': value must be one of 'delegated', 'off'"),
    ({"server.logFormat": "xml"}, "at '/server/logFormat': value must be one of 'json', 'text'"),
    ({"watch.timeot": 60}, "additional properties 'timeot' not allowed"),
    ({"watch.timeout": "half an hour"}, "at '/watch/timeout'"),
    ({"admission.references": "ignore"}, "at '/admission/references': value must be one of 'reject', 'warn'"),
    ({"storage.sqlite.synchronous": "off"}, "at '/storage/sqlite/synchronous': value must be one of 'full', 'normal'"),
])
def test_bad_values_fail_to_render_with_a_message_that_says_what_to_set(helm, sets, message):
    result = helm("template", RELEASE, str(CHART), "--namespace", NAMESPACE, *value_args((), sets), check=False)
    assert result.returncode == 1
    assert message in result.stderr
    assert not result.stdout.strip()


def test_the_chart_version_is_the_servers(tmp_path):
    import tomllib

    import yaml

    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    project = tomllib.loads((CHART.parents[1] / "pyproject.toml").read_text())
    assert chart["appVersion"] == project["project"]["version"]
