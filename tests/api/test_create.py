"""POST: server-owned metadata, names, metadata validation, dry run (CONTRACT 3.1-3.3)."""
from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from arkrest import ANY_AGENT, V1ALPHA1, V1PREALPHA1, assert_status, obj

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def test_create_is_201_with_server_owned_metadata(ark):
    before = datetime.now(UTC).replace(microsecond=0)
    created = ark.create(obj("q1", labels={"app": "demo"}))
    after = datetime.now(UTC)
    meta = created["metadata"]
    assert created["apiVersion"] == V1ALPHA1 and created["kind"] == "Query"
    assert meta["name"] == "q1"
    assert meta["namespace"] == ark.namespace
    assert uuid.UUID(meta["uid"]).version == 4
    assert TIMESTAMP.match(meta["creationTimestamp"]), meta["creationTimestamp"]
    stamp = datetime.strptime(meta["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before <= stamp <= after
    assert meta["generation"] == 1
    assert re.fullmatch(r"[1-9][0-9]*", meta["resourceVersion"])
    assert meta["labels"] == {"app": "demo"}
    assert ark.get("q1") == created


def test_create_fills_schema_defaults(ark):
    created = ark.create(obj("q1"))
    assert created["spec"] == {"input": "hello", "selector": ANY_AGENT, "timeout": "5m", "ttl": "720h", "type": "user"}


def test_create_wipes_client_sent_system_fields_and_status(ark):
    body = obj("q1", uid="11111111-1111-4111-8111-111111111111", creationTimestamp="2001-01-01T00:00:00Z",
               deletionTimestamp="2001-01-01T00:00:00Z", deletionGracePeriodSeconds=30, generation=7,
               selfLink="/x")
    body["status"] = {"phase": "done"}
    created = ark.create(body)
    meta = created["metadata"]
    assert meta["uid"] != "11111111-1111-4111-8111-111111111111"
    assert not meta["creationTimestamp"].startswith("2001")
    assert "deletionTimestamp" not in meta and "deletionGracePeriodSeconds" not in meta and "selfLink" not in meta
    assert meta["generation"] == 1
    assert "status" not in created
    assert "status" not in ark.get("q1")


def test_create_with_a_resource_version_is_rejected_or_ignored(ark):
    response = ark.http.post(ark.url(), json=obj("q1", resourceVersion="12345"))
    if response.status_code == 400:
        assert_status(response, 400, "BadRequest")
    else:
        assert response.status_code == 201, response.text
        assert response.json()["metadata"]["resourceVersion"] == ark.get("q1")["metadata"]["resourceVersion"]


def test_every_write_bumps_one_global_resource_version_across_kinds(ark):
    rvs = [int(ark.create(obj("q1"))["metadata"]["resourceVersion"])]
    rvs.append(int(ark.create(obj("t1", "tools"))["metadata"]["resourceVersion"]))
    rvs.append(int(ark.create(obj("a1", "a2aservers"))["metadata"]["resourceVersion"]))
    rvs.append(int(ark.create(obj("e1", "executionengines"))["metadata"]["resourceVersion"]))
    rvs.append(int(ark.patch("q1", {"metadata": {"labels": {"x": "y"}}}).json()["metadata"]["resourceVersion"]))
    rvs.append(int(ark.patch("t1", {"status": {"state": "ok"}}, "tools", subresource="status")
                   .json()["metadata"]["resourceVersion"]))
    assert rvs == sorted(set(rvs)), rvs
    assert int(ark.list("tools")["metadata"]["resourceVersion"]) == rvs[-1]


def test_create_of_an_existing_name_is_409_already_exists(ark):
    ark.create(obj("q1"))
    status = assert_status(ark.http.post(ark.url(), json=obj("q1")), 409, "AlreadyExists")
    assert status["message"] == 'queries.ark.mckinsey.com "q1" already exists'
    assert status["details"] == {"name": "q1", "group": "ark.mckinsey.com", "kind": "queries"}


def test_generate_name_appends_five_random_characters(ark):
    created = ark.create(obj(None, generateName="job-"))
    name = created["metadata"]["name"]
    assert name.startswith("job-") and len(name) == len("job-") + 5
    assert set(name[4:]) <= set(NAME_ALPHABET)
    assert created["metadata"]["generateName"] == "job-"
    assert ark.get(name)["metadata"]["uid"] == created["metadata"]["uid"]


def test_generate_name_truncates_a_long_base_to_58_characters(ark):
    base = "a" * 70
    name = ark.create(obj(None, generateName=base))["metadata"]["name"]
    assert name[:58] == base[:58] and len(name) == 63


def test_name_wins_over_generate_name(ark):
    created = ark.create(obj("fixed", generateName="job-"))
    assert created["metadata"]["name"] == "fixed"


def test_missing_name_is_422_naming_metadata_name(ark):
    status = assert_status(ark.http.post(ark.url(), json=obj(None)), 422, "Invalid")
    assert [c["field"] for c in status["details"]["causes"]] == ["metadata.name"]
    assert status["details"]["causes"][0]["reason"] == "FieldValueRequired"


def test_invalid_name_is_422_with_the_dns_subdomain_message(ark):
    status = assert_status(ark.http.post(ark.url(), json=obj("Bad_Name")), 422, "Invalid")
    assert status["message"].startswith('Query.ark.mckinsey.com "Bad_Name" is invalid: metadata.name: Invalid value: '
                                        '"Bad_Name": a lowercase RFC 1123 subdomain')
    assert status["details"]["name"] == "Bad_Name"
    assert status["details"]["group"] == "ark.mckinsey.com"
    assert status["details"]["kind"] == "Query"
    (cause,) = status["details"]["causes"]
    assert cause["field"] == "metadata.name" and cause["reason"] == "FieldValueInvalid"


def test_name_longer_than_253_characters_is_422(ark):
    status = assert_status(ark.http.post(ark.url(), json=obj("a" * 254)), 422, "Invalid")
    assert status["details"]["causes"][0]["field"] == "metadata.name"


def test_invalid_namespace_in_the_url_is_404_as_no_such_namespace_exists(ark):
    """As kube-apiserver: NamespaceLifecycle admission answers before the object is validated
    (a namespace with that name cannot be created: it is not a DNS label)."""
    response = ark.http.post(ark.url(namespace="Bad_NS"), json=obj("q1"))
    status = assert_status(response, 404, "NotFound")
    assert status["message"] == 'namespaces "Bad_NS" not found'
    refused = ark.http.post(f"{ark.server_url}/api/v1/namespaces",
                            json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "Bad_NS"}})
    assert "metadata.name" in [c["field"] for c in assert_status(refused, 422, "Invalid")["details"]["causes"]]


def test_invalid_spec_is_422_with_a_cause_per_field(ark):
    status = assert_status(ark.http.post(ark.url(), json=obj("q1", spec={"type": "nope"})), 422, "Invalid")
    causes = {c["field"]: c for c in status["details"]["causes"]}
    assert set(causes) == {"spec.input", "spec.type"}
    assert causes["spec.input"]["reason"] == "FieldValueRequired"
    assert causes["spec.input"]["message"] == "Required value"
    assert causes["spec.type"]["reason"] == "FieldValueNotSupported"
    assert status["message"].startswith('Query.ark.mckinsey.com "q1" is invalid: [')


def test_api_version_mismatch_is_400(ark):
    body = obj("q1")
    body["apiVersion"] = "ark.mckinsey.com/v1beta9"
    status = assert_status(ark.http.post(ark.url(), json=body), 400, "BadRequest")
    assert status["message"] == ("the API version in the data (ark.mckinsey.com/v1beta9) does not match the expected "
                                 "API version (ark.mckinsey.com/v1alpha1)")


def test_kind_mismatch_is_400(ark):
    body = obj("q1")
    body["kind"] = "Agent"
    assert_status(ark.http.post(ark.url(), json=body), 400, "BadRequest")


def test_namespace_mismatch_is_400(ark):
    status = assert_status(ark.http.post(ark.url(), json=obj("q1", namespace="elsewhere")), 400, "BadRequest")
    assert status["message"] == "the namespace of the provided object does not match the namespace sent on the request"


def test_body_namespace_equal_to_the_url_is_accepted(ark):
    assert ark.create(obj("q1", namespace=ark.namespace))["metadata"]["namespace"] == ark.namespace


def test_labels_annotations_finalizers_and_owner_references_are_kept(ark):
    owner = {"apiVersion": "v1", "kind": "ConfigMap", "name": "cm", "uid": str(uuid.uuid4()), "controller": True,
             "blockOwnerDeletion": True}
    body = obj("q1", labels={"app.kubernetes.io/name": "demo", "tier": ""},
               annotations={"example.com/note": "any text, even with spaces"},
               finalizers=["example.com/cleanup"], ownerReferences=[owner])
    created = ark.create(body)
    for field in ("labels", "annotations", "finalizers", "ownerReferences"):
        assert created["metadata"][field] == body["metadata"][field]
    assert ark.get("q1")["metadata"]["ownerReferences"] == [owner]


def test_bad_label_key_is_422_naming_metadata_labels(ark):
    status = assert_status(ark.http.post(ark.url(), json=obj("q1", labels={"bad key!": "v"})), 422, "Invalid")
    (cause,) = status["details"]["causes"]
    assert cause["field"] == "metadata.labels"
    assert '"bad key!"' in cause["message"]


def test_bad_label_value_is_422_with_the_upstream_message(ark):
    status = assert_status(ark.http.post(ark.url(), json=obj("q1", labels={"k": "-bad-"})), 422, "Invalid")
    (cause,) = status["details"]["causes"]
    assert cause["field"] == "metadata.labels"
    assert cause["message"] == (
        "Invalid value: \"-bad-\": a valid label must be an empty string or consist of alphanumeric characters, '-', "
        "'_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
        "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")


def test_label_value_longer_than_63_characters_is_422(ark):
    status = assert_status(ark.http.post(ark.url(), json=obj("q1", labels={"k": "v" * 64})), 422, "Invalid")
    assert status["details"]["causes"][0]["field"] == "metadata.labels"


def test_bad_annotation_key_is_422(ark):
    status = assert_status(ark.http.post(ark.url(), json=obj("q1", annotations={"/x": "v"})), 422, "Invalid")
    assert status["details"]["causes"][0]["field"] == "metadata.annotations"


def test_annotations_over_256_kib_are_422(ark):
    body = obj("q1", annotations={"big": "x" * (256 * 1024)})
    status = assert_status(ark.http.post(ark.url(), json=body), 422, "Invalid")
    assert status["details"]["causes"][0]["field"] == "metadata.annotations"
    assert status["details"]["causes"][0]["reason"] == "FieldValueTooLong"


def test_bad_finalizer_is_422(ark):
    status = assert_status(ark.http.post(ark.url(), json=obj("q1", finalizers=["not valid!"])), 422, "Invalid")
    assert status["details"]["causes"][0]["field"] == "metadata.finalizers[0]"


def test_orphan_and_foreground_finalizers_together_are_422(ark):
    body = obj("q1", finalizers=["orphan", "foregroundDeletion"])
    status = assert_status(ark.http.post(ark.url(), json=body), 422, "Invalid")
    assert status["details"]["causes"][0]["field"] == "metadata.finalizers"


def test_owner_reference_without_uid_is_422(ark):
    body = obj("q1", ownerReferences=[{"apiVersion": "v1", "kind": "ConfigMap", "name": "cm"}])
    status = assert_status(ark.http.post(ark.url(), json=body), 422, "Invalid")
    assert [c["field"] for c in status["details"]["causes"]] == ["metadata.ownerReferences[0].uid"]


def test_two_controller_owner_references_are_422(ark):
    owners = [{"apiVersion": "v1", "kind": "ConfigMap", "name": n, "uid": str(uuid.uuid4()), "controller": True}
              for n in ("a", "b")]
    status = assert_status(ark.http.post(ark.url(), json=obj("q1", ownerReferences=owners)), 422, "Invalid")
    assert status["details"]["causes"][0]["field"] == "metadata.ownerReferences"


def test_dry_run_create_is_201_and_persists_nothing(ark):
    before = ark.revision()
    response = ark.http.post(ark.url(), json=obj("q1"), params={"dryRun": "All"})
    assert response.status_code == 201, response.text
    dry = response.json()
    assert dry["metadata"]["name"] == "q1" and dry["metadata"]["generation"] == 1
    assert uuid.UUID(dry["metadata"]["uid"])
    assert dry["spec"]["timeout"] == "5m"
    assert ark.http.get(ark.url("queries", "q1")).status_code == 404
    assert ark.revision() == before


def test_dry_run_create_still_validates(ark):
    response = ark.http.post(ark.url(), json=obj("q1", spec={}), params={"dryRun": "All"})
    assert_status(response, 422, "Invalid")


def test_invalid_dry_run_value_is_422(ark):
    response = ark.http.post(ark.url(), json=obj("q1"), params={"dryRun": "Some"})
    status = assert_status(response, 422, "Invalid")
    assert status["message"].startswith('CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: "Some"')
    assert ark.http.get(ark.url("queries", "q1")).status_code == 404


def test_field_manager_longer_than_128_characters_is_422(ark):
    response = ark.http.post(ark.url(), json=obj("q1"), params={"fieldManager": "m" * 129})
    status = assert_status(response, 422, "Invalid")
    assert status["details"]["causes"][0]["field"] == "fieldManager"


def test_a_deleted_name_can_be_created_again_at_once(ark):
    first = ark.create(obj("q1"))
    assert ark.http.delete(ark.url("queries", "q1")).status_code == 200
    second = ark.create(obj("q1"))
    assert second["metadata"]["uid"] != first["metadata"]["uid"]
    assert int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    assert second["metadata"]["generation"] == 1


def test_v1prealpha1_kinds_carry_their_own_api_version(ark):
    a2a = ark.create(obj("a1", "a2aservers"))
    engine = ark.create(obj("e1", "executionengines"))
    assert a2a["apiVersion"] == engine["apiVersion"] == V1PREALPHA1
    assert a2a["spec"]["pollInterval"] == "1m"
    for plural, kind in (("a2aservers", "A2AServer"), ("executionengines", "ExecutionEngine")):
        listed = ark.list(plural)
        assert listed["apiVersion"] == V1PREALPHA1 and listed["kind"] == f"{kind}List"
        assert [(i["apiVersion"], i["kind"]) for i in listed["items"]] == [(V1PREALPHA1, kind)]
        cluster = ark.list(plural, namespace=None, fieldSelector=f"metadata.namespace={ark.namespace}")
        assert [i["apiVersion"] for i in cluster["items"]] == [V1PREALPHA1]


def test_v1prealpha1_kinds_are_not_served_in_v1alpha1(ark):
    response = ark.http.post(ark.url("a2aservers", version="v1alpha1"), json=obj("a1", "a2aservers"))
    assert_status(response, 404, "NotFound")


def test_invalid_generate_name_is_422_naming_generate_name(ark):
    status = assert_status(ark.http.post(ark.url(), json=obj(None, generateName="Bad_")), 422, "Invalid")
    assert "metadata.generateName" in [c["field"] for c in status["details"]["causes"]]


def test_concurrent_creates_of_one_name_give_one_201_and_409_for_the_rest(ark):
    def create(_):
        with ark.session() as session:
            return session.post(ark.url(), json=obj("race"))

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(create, range(8)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] + [409] * 7, [r.text for r in responses]
    assert all(r.json()["reason"] == "AlreadyExists" for r in responses if r.status_code == 409)


def test_concurrent_generate_name_creates_all_succeed_with_distinct_names(ark):
    def create(_):
        with ark.session() as session:
            return session.post(ark.url(), json=obj(None, generateName="gen-"))

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(create, range(8)))
    assert [r.status_code for r in responses] == [201] * 8, [r.text for r in responses]
    names = {r.json()["metadata"]["name"] for r in responses}
    assert len(names) == 8
    assert sorted(i["metadata"]["name"] for i in ark.list()["items"]) == sorted(names)
    rvs = [int(r.json()["metadata"]["resourceVersion"]) for r in responses]
    assert len(set(rvs)) == 8
