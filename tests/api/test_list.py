"""LIST: selectors, consistent pages, resourceVersion rules (CONTRACT 3.1, 6.1, 6.2)."""
from __future__ import annotations

import base64
import json
import time

import pytest
from arkrest import V1ALPHA1, assert_status, obj

from ark.kinds import REGISTRY

LABELS = {
    "a": {"env": "prod", "tier": "1"},
    "b": {"env": "dev", "tier": "5"},
    "c": {"env": "staging", "tier": "10"},
    "d": {"owner": "x"},
    "e": {},
}


@pytest.fixture
def labelled(ark):
    for name, labels in LABELS.items():
        ark.create(obj(name, labels=labels))
    return ark


def _names(listing: dict) -> list[str]:
    return [item["metadata"]["name"] for item in listing["items"]]


@pytest.mark.parametrize(
    "selector, expected",
    [
        ("env=prod", ["a"]),
        ("env==prod", ["a"]),
        ("env!=prod", ["b", "c", "d", "e"]),
        ("env in (prod,dev)", ["a", "b"]),
        ("env in (prod, dev)", ["a", "b"]),
        ("env notin (prod,dev)", ["c", "d", "e"]),
        ("env", ["a", "b", "c"]),
        ("!env", ["d", "e"]),
        ("tier>1", ["b", "c"]),
        ("tier<10", ["a", "b"]),
        ("tier>1,tier<10", ["b"]),
        ("env,env!=dev", ["a", "c"]),
        ("env=prod,tier=1", ["a"]),
        ("env=prod,tier=5", []),
        ("owner=x", ["d"]),
        ("env = prod", ["a"]),
        ("env in(prod)", ["a"]),
        ("!env,owner", ["d"]),
        ("tier in (1,5),env!=dev", ["a"]),
        ("env notin (prod,dev,staging)", ["d", "e"]),
        ("", ["a", "b", "c", "d", "e"]),
    ],
)
def test_label_selector_matches_as_apimachinery_does(labelled, selector, expected):
    assert _names(labelled.list(labelSelector=selector)) == expected


@pytest.mark.parametrize(("selector", "why"), [
    ("env=(", "invalid label value: '(': a valid label must be an empty string or consist of alphanumeric "
              "characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  "
              "or 'my_value',  or '12345', regex used for validation is "
              "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"),
    ("env in prod", "found 'prod', expected: '('"),
    ("tier>abc", "for 'Gt', 'Lt' operators, the value must be an integer, got 'abc'"),
    ("!", "unexpected end of selector '!'"),
    ("env=prod,", "unexpected end of selector 'env=prod,'"),
    ("bad key=x", "found 'key', expected: in, notin, =, ==, !=, gt, lt"),
    ("a=b=c", "found '=', expected: ','"),
])
def test_malformed_label_selector_is_400(ark, selector, why):
    status = assert_status(ark.http.get(ark.url(), params={"labelSelector": selector}), 400, "BadRequest")
    assert status["message"] == f"unable to parse requirement: {why}"


def test_label_selector_follows_label_changes(labelled):
    labelled.patch("e", {"metadata": {"labels": {"env": "prod"}}})
    labelled.patch("a", {"metadata": {"labels": {"env": None}}})
    assert _names(labelled.list(labelSelector="env=prod")) == ["e"]
    assert _names(labelled.list(labelSelector="!env")) == ["a", "d"]


@pytest.mark.parametrize(
    "selector, expected",
    [
        ("metadata.name=b", ["b"]),
        ("metadata.name==b", ["b"]),
        ("metadata.name!=b", ["a", "c", "d", "e"]),
        ("metadata.name!=b,metadata.name!=c", ["a", "d", "e"]),
        ("metadata.name=nothing", []),
    ],
)
def test_field_selector_on_name_matches(labelled, selector, expected):
    assert _names(labelled.list(fieldSelector=selector)) == expected


def test_field_selector_on_namespace_matches(labelled):
    assert len(labelled.list(fieldSelector=f"metadata.namespace={labelled.namespace}")["items"]) == 5
    assert labelled.list(fieldSelector="metadata.namespace=elsewhere")["items"] == []


def test_field_and_label_selectors_combine(labelled):
    assert _names(labelled.list(labelSelector="env", fieldSelector="metadata.name!=a")) == ["b", "c"]


def test_unsupported_field_selector_is_400(ark):
    status = assert_status(ark.http.get(ark.url(), params={"fieldSelector": "spec.foo=x"}), 400, "BadRequest")
    assert status["message"] == "field label not supported: spec.foo"


def test_malformed_field_selector_is_400(ark):
    assert_status(ark.http.get(ark.url(), params={"fieldSelector": "metadata.name"}), 400, "BadRequest")


def test_list_shape_and_items_carry_api_version_and_kind(labelled):
    listing = labelled.list()
    assert listing["apiVersion"] == V1ALPHA1 and listing["kind"] == "QueryList"
    assert set(listing["metadata"]) <= {"resourceVersion", "continue", "remainingItemCount"}
    assert all(i["apiVersion"] == V1ALPHA1 and i["kind"] == "Query" for i in listing["items"])
    assert _names(listing) == ["a", "b", "c", "d", "e"]


def test_empty_list_has_items_as_an_empty_array(ark):
    response = ark.http.get(ark.url("tools"))
    assert response.status_code == 200
    assert '"items":[]' in response.text.replace(" ", "")
    listing = response.json()
    assert listing["items"] == [] and listing["kind"] == "ToolList"
    assert int(listing["metadata"]["resourceVersion"]) >= 0


def test_list_resource_version_is_the_store_revision(ark):
    created = ark.create(obj("q1"))
    other = ark.create(obj("t1", "tools"))
    listing = ark.list()
    assert listing["metadata"]["resourceVersion"] == other["metadata"]["resourceVersion"]
    assert int(listing["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    assert ark.list("tools", namespace="nowhere")["metadata"]["resourceVersion"] == other["metadata"]["resourceVersion"]


def test_cluster_wide_list_shows_each_items_namespace(ark, namespace):
    second = f"{namespace}-b"
    ark.create_namespace(second)
    ark.create(obj("q1"))
    ark.create(obj("q1"), namespace=second)
    listing = ark.list(namespace=None, labelSelector="", fieldSelector="metadata.name=q1")
    mine = [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in listing["items"]
            if i["metadata"]["namespace"] in (namespace, second)]
    assert mine == [(namespace, "q1"), (second, "q1")]
    assert all(i["metadata"].get("namespace") for i in listing["items"])


def test_list_on_a_named_url_path_is_a_get(ark):
    ark.create(obj("q1"))
    assert ark.http.get(ark.url("queries", "q1")).json()["kind"] == "Query"


# Pagination -----------------------------------------------------------------------------------

def test_limit_and_continue_walk_all_items_in_order(ark):
    names = [f"q{i}" for i in range(7)]
    for name in names:
        ark.create(obj(name))
    seen, token, rvs = [], None, set()
    while True:
        params = {"limit": 3, **({"continue": token} if token else {})}
        page = ark.list(**params)
        assert len(page["items"]) <= 3
        seen += _names(page)
        rvs.add(page["metadata"]["resourceVersion"])
        token = page["metadata"].get("continue")
        if not token:
            break
    assert seen == names
    assert len(rvs) == 1


def test_last_full_page_has_no_continue(ark):
    for i in range(4):
        ark.create(obj(f"q{i}"))
    first = ark.list(limit=2)
    second = ark.list(limit=2, **{"continue": first["metadata"]["continue"]})
    assert _names(second) == ["q2", "q3"]
    assert not second["metadata"].get("continue")


def test_limit_larger_than_the_list_returns_everything_without_continue(ark):
    ark.create(obj("q1"))
    page = ark.list(limit=500)
    assert _names(page) == ["q1"] and not page["metadata"].get("continue")


def test_later_pages_show_the_state_at_the_first_pages_revision(ark):
    for name in ("a", "b", "c", "d", "e", "f"):
        ark.create(obj(name, labels={"v": "old"}))
    first = ark.list(limit=2)
    assert _names(first) == ["a", "b"]
    snapshot_rv = first["metadata"]["resourceVersion"]
    at_first = {i["metadata"]["name"]: i for i in ark.list()["items"]}
    # Between the pages: delete c, modify d (spec and labels), add bb and g, delete then re-create e.
    assert ark.http.delete(ark.url("queries", "c")).status_code == 200
    assert ark.patch("d", {"metadata": {"labels": {"v": "new"}}, "spec": {"input": "changed"}}).status_code == 200
    ark.create(obj("bb"))
    ark.create(obj("g"))
    ark.http.delete(ark.url("queries", "e"))
    ark.create(obj("e", labels={"v": "reborn"}))
    second = ark.list(limit=2, **{"continue": first["metadata"]["continue"]})
    assert _names(second) == ["c", "d"]
    assert second["metadata"]["resourceVersion"] == snapshot_rv
    assert second["items"] == [at_first["c"], at_first["d"]]
    third = ark.list(limit=2, **{"continue": second["metadata"]["continue"]})
    assert third["items"] == [at_first["e"], at_first["f"]]
    assert not third["metadata"].get("continue")
    # A fresh list sees the present.
    assert _names(ark.list()) == ["a", "b", "bb", "d", "e", "f", "g"]


def test_later_pages_apply_the_label_selector_at_the_snapshot(ark):
    for name in ("a", "b", "c", "d"):
        ark.create(obj(name, labels={"pick": "yes"}))
    first = ark.list(limit=1, labelSelector="pick=yes")
    assert _names(first) == ["a"]
    ark.patch("b", {"metadata": {"labels": {"pick": "no"}}})
    ark.patch("c", {"metadata": {"labels": {"pick": None}}})
    rest = ark.list(limit=10, labelSelector="pick=yes", **{"continue": first["metadata"]["continue"]})
    assert _names(rest) == ["b", "c", "d"]
    assert all(i["metadata"]["labels"] == {"pick": "yes"} for i in rest["items"])


def test_pages_of_a_cluster_wide_list_cross_namespaces(ark, namespace):
    others = [f"{namespace}-1", f"{namespace}-2"]
    for ns in others:
        ark.create_namespace(ns)
        for name in ("x", "y"):
            ark.create(obj(name), namespace=ns)
    seen, token = [], None
    selector = "metadata.name!=nothing"
    while True:
        params = {"limit": 1, "fieldSelector": selector, **({"continue": token} if token else {})}
        page = ark.list(namespace=None, **params)
        seen += [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in page["items"]]
        token = page["metadata"].get("continue")
        if not token:
            break
    mine = [key for key in seen if key[0] in others]
    assert mine == [(others[0], "x"), (others[0], "y"), (others[1], "x"), (others[1], "y")]
    assert seen == sorted(seen)


@pytest.mark.parametrize("token", ["garbage", "eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ", "!!!"])
def test_malformed_continue_token_is_400(ark, token):
    status = assert_status(ark.http.get(ark.url(), params={"continue": token}), 400, "BadRequest")
    assert status["message"].startswith("invalid continue token")


def test_continue_with_a_resource_version_is_400(ark):
    for i in range(3):
        ark.create(obj(f"q{i}"))
    first = ark.list(limit=1)
    params = {"continue": first["metadata"]["continue"], "resourceVersion": first["metadata"]["resourceVersion"]}
    status = assert_status(ark.http.get(ark.url(), params=params), 400, "BadRequest")
    assert status["message"] == "specifying resource version is not allowed when using continue"


def test_continue_with_resource_version_zero_is_allowed(ark):
    for i in range(3):
        ark.create(obj(f"q{i}"))
    first = ark.list(limit=1)
    page = ark.list(limit=5, resourceVersion="0", **{"continue": first["metadata"]["continue"]})
    assert _names(page) == ["q1", "q2"]


def test_continue_token_is_base64_json_with_revision_and_start_key(ark):
    for i in range(2):
        ark.create(obj(f"q{i}"))
    first = ark.list(limit=1)
    token = first["metadata"]["continue"]
    raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    assert raw["v"] == "meta.k8s.io/v1" and raw["rv"] == int(first["metadata"]["resourceVersion"])


def test_invalid_limit_is_400(ark):
    assert_status(ark.http.get(ark.url(), params={"limit": "ten"}), 400, "BadRequest")


# resourceVersion and resourceVersionMatch -------------------------------------------------------

@pytest.mark.parametrize(
    "params, field",
    [
        ({"resourceVersionMatch": "NotOlderThan"}, "resourceVersionMatch"),
        ({"resourceVersionMatch": "Exact"}, "resourceVersionMatch"),
        ({"resourceVersionMatch": "Exact", "resourceVersion": "0"}, "resourceVersionMatch"),
        ({"resourceVersionMatch": "Sometimes", "resourceVersion": "1"}, "resourceVersionMatch"),
        ({"sendInitialEvents": "true"}, "sendInitialEvents"),
    ],
)
def test_invalid_resource_version_match_is_422(ark, params, field):
    status = assert_status(ark.http.get(ark.url(), params=params), 422, "Invalid")
    assert status["message"].startswith('ListOptions.meta.k8s.io "" is invalid: ')
    assert field in [c["field"] for c in status["details"]["causes"]]


def test_resource_version_match_with_continue_is_422(ark):
    for i in range(2):
        ark.create(obj(f"q{i}"))
    token = ark.list(limit=1)["metadata"]["continue"]
    params = {"continue": token, "resourceVersionMatch": "NotOlderThan", "resourceVersion": "1"}
    status = assert_status(ark.http.get(ark.url(), params=params), 422, "Invalid")
    assert "resourceVersionMatch" in [c["field"] for c in status["details"]["causes"]]


def test_resource_version_zero_lists_the_current_state(ark):
    ark.create(obj("q1"))
    assert _names(ark.list(resourceVersion="0")) == ["q1"]
    assert _names(ark.list(resourceVersion="0", resourceVersionMatch="NotOlderThan")) == ["q1"]


def test_not_older_than_a_past_revision_lists_the_current_state(ark):
    first = ark.create(obj("q1"))
    last = ark.create(obj("q2"))
    listing = ark.list(resourceVersion=first["metadata"]["resourceVersion"], resourceVersionMatch="NotOlderThan")
    assert _names(listing) == ["q1", "q2"]
    assert int(listing["metadata"]["resourceVersion"]) >= int(last["metadata"]["resourceVersion"])
    assert _names(ark.list(resourceVersion=first["metadata"]["resourceVersion"])) == ["q1", "q2"]


def test_exact_resource_version_lists_the_state_at_that_revision(ark):
    first = ark.create(obj("q1", labels={"v": "1"}))
    ark.create(obj("q2"))
    ark.patch("q1", {"metadata": {"labels": {"v": "2"}}})
    rv = first["metadata"]["resourceVersion"]
    listing = ark.list(resourceVersion=rv, resourceVersionMatch="Exact")
    assert listing["metadata"]["resourceVersion"] == rv
    assert listing["items"] == [first]


def test_resource_version_with_limit_is_exact(ark):
    first = ark.create(obj("q1"))
    ark.create(obj("q2"))
    rv = first["metadata"]["resourceVersion"]
    listing = ark.list(resourceVersion=rv, limit=10)
    assert listing["metadata"]["resourceVersion"] == rv
    assert _names(listing) == ["q1"]


def test_too_new_resource_version_waits_then_is_504(ark):
    wanted = ark.revision() + 1000
    started = time.monotonic()
    response = ark.http.get(ark.url(), params={"resourceVersion": str(wanted)})
    elapsed = time.monotonic() - started
    status = assert_status(response, 504, "Timeout")
    assert status["message"].startswith(f"Timeout: Too large resource version: {wanted}, current: ")
    assert status["details"]["causes"][0]["reason"] == "ResourceVersionTooLarge"
    assert status["details"]["retryAfterSeconds"] == 1
    assert elapsed >= 2.5  # it waited for the revision (about 3 s) before answering


def test_resource_version_reached_while_waiting_is_served(ark):
    wanted = ark.revision() + 1
    from threading import Thread

    def write_soon():
        time.sleep(0.5)
        ark.create(obj("late"))

    writer = Thread(target=write_soon)
    writer.start()
    try:
        response = ark.http.get(ark.url(), params={"resourceVersion": str(wanted),
                                                   "resourceVersionMatch": "NotOlderThan"})
    finally:
        writer.join()
    assert response.status_code == 200, response.text
    assert int(response.json()["metadata"]["resourceVersion"]) >= wanted


def test_non_numeric_resource_version_is_400(ark):
    assert_status(ark.http.get(ark.url(), params={"resourceVersion": "abc"}), 400, "BadRequest")


def test_exact_list_shows_objects_deleted_since(ark):
    first = ark.create(obj("q1"))
    ark.http.delete(ark.url("queries", "q1"))
    listing = ark.list(resourceVersion=first["metadata"]["resourceVersion"], resourceVersionMatch="Exact")
    assert listing["items"] == [first]
    assert ark.list()["items"] == []


@pytest.mark.parametrize("limit", [0, -1])
def test_limit_zero_or_negative_means_no_limit(ark, limit):
    for i in range(3):
        ark.create(obj(f"q{i}"))
    page = ark.list(limit=limit)
    assert _names(page) == ["q0", "q1", "q2"] and not page["metadata"].get("continue")


def test_label_selector_with_prefixed_keys_and_empty_values(ark):
    ark.create(obj("a", labels={"app.kubernetes.io/name": "web", "flag": ""}))
    ark.create(obj("b", labels={"app.kubernetes.io/name": "db", "flag": "on"}))
    assert _names(ark.list(labelSelector="app.kubernetes.io/name=web")) == ["a"]
    assert _names(ark.list(labelSelector="flag=")) == ["a"]
    assert _names(ark.list(labelSelector="flag!=")) == ["b"]
    assert _names(ark.list(labelSelector="app.kubernetes.io/name notin (web)")) == ["b"]


def test_numeric_label_comparison_skips_non_numeric_values(ark):
    ark.create(obj("a", labels={"n": "7"}))
    ark.create(obj("b", labels={"n": "seven"}))
    ark.create(obj("c", labels={"n": "0"}))
    assert _names(ark.list(labelSelector="n>5")) == ["a"]
    assert _names(ark.list(labelSelector="n<1")) == ["c"]
    assert _names(ark.list(labelSelector="n>-1")) == ["a", "c"]


def test_delete_collection_with_a_malformed_selector_is_400(ark):
    ark.create(obj("q1"))
    assert_status(ark.http.delete(ark.url(), params={"labelSelector": "a in (b"}), 400, "BadRequest")
    assert _names(ark.list()) == ["q1"]


def test_get_with_a_too_new_resource_version_waits_then_is_504(ark):
    ark.create(obj("q1"))
    wanted = ark.revision() + 1000
    started = time.monotonic()
    response = ark.http.get(ark.url("queries", "q1"), params={"resourceVersion": str(wanted)})
    assert_status(response, 504, "Timeout")
    assert time.monotonic() - started >= 2.5


def test_get_with_a_reached_resource_version_is_served(ark):
    created = ark.create(obj("q1"))
    assert ark.get("q1", resourceVersion=created["metadata"]["resourceVersion"]) == created
    assert ark.get("q1", resourceVersion="0") == created


def test_pretty_and_timeout_seconds_are_accepted_on_list(ark):
    ark.create(obj("q1"))
    assert _names(ark.list(pretty="true", timeoutSeconds="5")) == ["q1"]


@pytest.mark.parametrize("kind", list(REGISTRY), ids=lambda k: k.plural)
def test_every_kind_lists_in_its_own_version(ark, kind):
    for namespace in ("", None):
        listing = ark.list(kind.plural, namespace=namespace, version=kind.version,
                           fieldSelector=f"metadata.namespace={ark.namespace}")
        assert (listing["apiVersion"], listing["kind"]) == (f"ark.mckinsey.com/{kind.version}", f"{kind.kind}List")
        assert listing["items"] == []
