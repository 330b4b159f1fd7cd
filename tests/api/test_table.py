"""Table and PartialObjectMetadata renderings, as kubectl and the metadata client ask (CONTRACT 7-9).

The expected columns are read from the upstream CRDs (``ark-reference/crds``), not from the
server's own kind descriptors.
"""
from __future__ import annotations

import re

import pytest
from arkrest import KUBECTL_GET_ACCEPT, TABLE_V1, assert_status, obj

from ark.kinds import REGISTRY
from tests.conftest import upstream_crd

TABLE_V1BETA1 = "application/json;as=Table;v=v1beta1;g=meta.k8s.io"
POM = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
POM_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
PROTOBUF = "application/vnd.kubernetes.protobuf"
METADATA_CLIENT_LIST = f"{PROTOBUF};as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,{POM_LIST},application/json"
METADATA_CLIENT_GET = f"{PROTOBUF};as=PartialObjectMetadata;g=meta.k8s.io;v=v1,{POM},application/json"
DURATION = re.compile(r"^(\d+s|\d+m(\d+s)?|\d+h(\d+m)?|\d+d(\d+h)?|\d+y(\d+d)?)$")
DEFAULT_COLUMN = "Custom resource definition column (in JSONPath format): {}"


def _table(ark, accept=TABLE_V1, plural="queries", name=None, **params):
    response = ark.http.get(ark.url(plural, name), headers={"Accept": accept}, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].split(";")[0] == "application/json"
    return response.json()


def _crd_columns(plural: str, version: str) -> list[dict]:
    (served,) = [v for v in upstream_crd(plural)["spec"]["versions"] if v["name"] == version]
    return served.get("additionalPrinterColumns", [])


def _expected_definitions(plural: str, version: str) -> list[tuple]:
    columns = _crd_columns(plural, version) or [{"name": "Age", "type": "date",
                                                  "jsonPath": ".metadata.creationTimestamp"}]
    expected = [("Name", "string", "name", 0)]
    for column in columns:
        expected.append((column["name"], column["type"], column.get("format", ""), column.get("priority", 0),
                         column.get("description") or DEFAULT_COLUMN.format(column["jsonPath"])))
    return expected


def test_query_table_has_the_crd_printer_columns(ark):
    ark.create(obj("q1"))
    ark.patch("q1", {"status": {"phase": "done", "duration": "2.3s"}}, subresource="status")
    table = _table(ark)
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Type", "Phase", "Duration", "Age"]
    name = table["columnDefinitions"][0]
    assert (name["type"], name["format"], name["priority"]) == ("string", "name", 0)
    assert name["description"].startswith("Name must be unique within a namespace")
    age = table["columnDefinitions"][-1]
    assert age["type"] == "date"
    (row,) = table["rows"]
    cells = row["cells"]
    assert cells[:4] == ["q1", "user", "done", "2.3s"]
    assert DURATION.match(cells[4]), cells[4]


@pytest.mark.parametrize("kind", list(REGISTRY), ids=lambda k: k.plural)
def test_column_definitions_match_the_crd(ark, kind):
    response = ark.http.get(ark.url(kind.plural, version=kind.version), headers={"Accept": TABLE_V1})
    assert response.status_code == 200, response.text
    got = [(c["name"], c["type"], c["format"], c["priority"]) + ((c["description"],) if i else ())
           for i, c in enumerate(response.json()["columnDefinitions"])]
    assert got == _expected_definitions(kind.plural, kind.version)


def test_tool_without_printer_columns_gets_name_and_age(ark):
    ark.create(obj("t1", "tools"))
    table = _table(ark, plural="tools")
    assert [(c["name"], c["type"]) for c in table["columnDefinitions"]] == [("Name", "string"), ("Age", "date")]
    (row,) = table["rows"]
    assert row["cells"][0] == "t1"
    assert DURATION.match(row["cells"][1]), row["cells"][1]


def test_age_is_a_human_duration_of_the_creation_timestamp(ark):
    ark.create(obj("q1"))
    age = _table(ark)["rows"][0]["cells"][-1]
    assert re.fullmatch(r"\d+s", age) and int(age[:-1]) < 60


def test_missing_cell_values_are_null(ark):
    ark.create(obj("q1"))
    cells = _table(ark)["rows"][0]["cells"]
    assert cells[2] is None and cells[3] is None  # no status yet: Phase and Duration


def test_no_column_is_wide_only_because_no_crd_sets_a_priority(ark):
    ark.create(obj("q1"))
    table = _table(ark)
    assert all(c["priority"] == 0 for c in table["columnDefinitions"])
    assert len(table["rows"][0]["cells"]) == len(table["columnDefinitions"])


def test_filter_columns_pick_the_matching_condition(ark):
    ark.create(obj("a1", "a2aservers"))
    conditions = [{"type": "Discovering", "status": "False", "reason": "Done", "message": "",
                   "lastTransitionTime": "2026-01-01T00:00:00Z"},
                  {"type": "Ready", "status": "True", "reason": "Up", "message": "",
                   "lastTransitionTime": "2026-01-01T00:00:00Z"}]
    response = ark.patch("a1", {"status": {"conditions": conditions, "lastResolvedAddress": "http://x"}},
                         "a2aservers", subresource="status")
    assert response.status_code == 200, response.text
    table = _table(ark, plural="a2aservers")
    assert table["rows"][0]["cells"][:4] == ["a1", "True", "False", "http://x"]


def test_kubectl_get_accept_header_gets_a_table(ark):
    ark.create(obj("q1"))
    table = _table(ark, KUBECTL_GET_ACCEPT)
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"


def test_table_v1beta1_is_served_in_v1beta1(ark):
    ark.create(obj("q1"))
    table = _table(ark, TABLE_V1BETA1)
    assert table["apiVersion"] == "meta.k8s.io/v1beta1"
    assert table["rows"][0]["object"]["apiVersion"] == "meta.k8s.io/v1beta1"


def test_rows_carry_partial_object_metadata_by_default(ark):
    created = ark.create(obj("q1", labels={"a": "b"}))
    (row,) = _table(ark)["rows"]
    assert row["object"] == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": created["metadata"]}
    assert row["object"]["metadata"]["namespace"] == ark.namespace


def test_include_object_metadata_is_the_default(ark):
    ark.create(obj("q1"))
    assert _table(ark, includeObject="Metadata")["rows"] == _table(ark)["rows"]


def test_include_object_object_embeds_the_full_object(ark):
    created = ark.create(obj("q1"))
    (row,) = _table(ark, includeObject="Object")["rows"]
    assert row["object"] == created


def test_include_object_none_omits_the_object(ark):
    ark.create(obj("q1"))
    (row,) = _table(ark, includeObject="None")["rows"]
    assert "object" not in row or row["object"] is None


def test_table_keeps_the_lists_resource_version_and_continue(ark):
    for i in range(3):
        ark.create(obj(f"q{i}"))
    table = _table(ark, limit=2)
    listing = ark.list(limit=2)
    assert [r["cells"][0] for r in table["rows"]] == ["q0", "q1"]
    assert table["metadata"]["continue"]
    assert table["metadata"]["resourceVersion"] == listing["metadata"]["resourceVersion"]
    rest = _table(ark, limit=2, **{"continue": table["metadata"]["continue"]})
    assert [r["cells"][0] for r in rest["rows"]] == ["q2"]
    assert not rest["metadata"].get("continue")


def test_empty_table_has_columns_and_no_rows(ark):
    table = _table(ark)
    assert table["rows"] == [] and len(table["columnDefinitions"]) == 5


def test_cluster_wide_table_rows_know_their_namespace(ark):
    ark.create(obj("q1"))
    response = ark.http.get(ark.url(namespace=None), headers={"Accept": TABLE_V1},
                            params={"fieldSelector": f"metadata.namespace={ark.namespace}"})
    assert response.status_code == 200, response.text
    table = response.json()
    assert [r["object"]["metadata"]["namespace"] for r in table["rows"]] == [ark.namespace]


def test_single_get_as_table_has_one_row(ark):
    created = ark.create(obj("q1"))
    table = _table(ark, name="q1")
    assert table["kind"] == "Table"
    assert len(table["rows"]) == 1 and table["rows"][0]["cells"][0] == "q1"
    assert table["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_partial_object_metadata_list_carries_the_full_metadata(ark):
    created = ark.create(obj("q1", labels={"a": "b"}))
    listing = _table(ark, METADATA_CLIENT_LIST)
    assert listing["kind"] == "PartialObjectMetadataList" and listing["apiVersion"] == "meta.k8s.io/v1"
    assert listing["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert listing["items"] == [{"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                 "metadata": created["metadata"]}]


def test_partial_object_metadata_list_keeps_continue(ark):
    for i in range(2):
        ark.create(obj(f"q{i}"))
    listing = _table(ark, POM_LIST, limit=1)
    assert listing["metadata"]["continue"]


def test_partial_object_metadata_of_one_object_carries_its_metadata(ark):
    created = ark.create(obj("q1"))
    got = _table(ark, METADATA_CLIENT_GET, name="q1")
    assert got == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": created["metadata"]}


def test_partial_object_metadata_list_form_on_one_object_is_406(ark):
    ark.create(obj("q1"))
    response = ark.http.get(ark.url("queries", "q1"), headers={"Accept": POM_LIST})
    assert_status(response, 406, "NotAcceptable")


def test_partial_object_metadata_single_form_on_a_list_is_406(ark):
    assert_status(ark.http.get(ark.url(), headers={"Accept": POM}), 406, "NotAcceptable")


@pytest.mark.parametrize("accept", [PROTOBUF, "application/cbor", f"{PROTOBUF};as=Table;v=v1;g=meta.k8s.io"])
def test_protobuf_or_cbor_only_accept_is_406(ark, accept):
    ark.create(obj("q1"))
    status = assert_status(ark.http.get(ark.url(), headers={"Accept": accept}), 406, "NotAcceptable")
    assert status["message"].startswith("only the following media types are accepted: application/json")
    assert_status(ark.http.get(ark.url("queries", "q1"), headers={"Accept": accept}), 406, "NotAcceptable")


def test_protobuf_first_then_json_gets_json(ark):
    ark.create(obj("q1"))
    listing = _table(ark, f"{PROTOBUF},application/json")
    assert listing["kind"] == "QueryList"


def test_errors_are_plain_status_even_when_a_table_is_asked_for(ark):
    response = ark.http.get(ark.url("queries", "ghost"), headers={"Accept": TABLE_V1})
    assert_status(response, 404, "NotFound")


def test_table_of_a_v1prealpha1_kind_has_its_crd_columns(ark):
    ark.create(obj("e1", "executionengines"))
    table = _table(ark, plural="executionengines")
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Type", "Phase", "Address", "Age"]
    assert table["rows"][0]["cells"][:2] == ["e1", "langgraph"]
    assert table["rows"][0]["object"]["metadata"]["name"] == "e1"


def test_integer_and_boolean_columns_keep_their_json_types(ark):
    ark.create(obj("m1", "mcpservers"))
    response = ark.patch("m1", {"status": {"toolCount": 3}}, "mcpservers", subresource="status")
    assert response.status_code == 200, response.text
    (row,) = _table(ark, plural="mcpservers")["rows"]
    assert row["cells"][3] == 3


@pytest.mark.parametrize("accept", ["*/*", "application/*", "application/json",
                                    f"application/json;q=1,{TABLE_V1};q=0.5"])
def test_plain_json_when_no_table_is_preferred(ark, accept):
    ark.create(obj("q1"))
    assert _table(ark, accept)["kind"] == "QueryList"
    assert _table(ark, accept, name="q1")["kind"] == "Query"


def test_single_get_as_table_can_embed_the_object(ark):
    created = ark.create(obj("q1"))
    (row,) = _table(ark, name="q1", includeObject="Object")["rows"]
    assert row["object"] == created
