"""Fuzzing: schemathesis against the served OpenAPI document, and hypothesis properties of the
machinery that parses what clients send (selectors against their SQL, patches, continue
tokens, the body codec). Bounded in examples; no shrinking of server cases, so the time is too.
"""
from __future__ import annotations

import copy
import json
import random
import string

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ark.machinery import codec, pagination, patch, selectors
from ark.machinery.errors import ApiError
from ark.settings import Settings
from ark.storage.dialects import create_engine_for
from ark.storage.migrations import upgrade_engine
from ark.storage.store import ListQuery, Store, Write
from tests.reliability.conftest import soak

GROUP = "ark.mckinsey.com"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
#: Only generation: a failing server case is reported as found, not shrunk (bounded time).
QUICK = settings(max_examples=soak(6, 60), deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
                 suppress_health_check=list(HealthCheck))
PROPERTY = settings(max_examples=soak(150, 2000), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


# schemathesis -----------------------------------------------------------------------------

def _fuzzable(document: dict) -> dict:
    """The served document, with generation kept off what would only make the run slow: watches
    (they stream until their timeout) and resourceVersions ahead of the store (a 3 s wait, then
    504, as documented). Responses are still checked against the unmodified response schemas."""
    doc = copy.deepcopy(document)
    for item in doc["paths"].values():
        for operation in item.values():
            if not isinstance(operation, dict) or "parameters" not in operation:
                continue
            kept = []
            for parameter in operation["parameters"]:
                if parameter["name"] in ("watch", "allowWatchBookmarks", "sendInitialEvents", "timeoutSeconds"):
                    continue
                if parameter["name"] == "resourceVersion":
                    parameter = {**parameter, "schema": {"type": "string", "enum": ["0", ""]}}
                kept.append(parameter)
            operation["parameters"] = kept
    return doc


def test_schemathesis_finds_no_server_error_and_no_undocumented_response(server, record_property):
    session = server.session()
    document = session.get(f"{server.url}/openapi/v3/apis/{GROUP}/v1alpha1", timeout=30).json()
    schema = schemathesis.openapi.from_dict(_fuzzable(document))
    if not soak(0, 1):  # make test: two kinds' operations; make soak: all ten kinds
        schema = schema.include(path_regex=r"/(queries|agents)(/|$)")
    findings: list[str] = []
    cases = 0
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @QUICK
        @given(case=operation.as_strategy())
        def run(case) -> None:
            nonlocal cases
            cases += 1
            response = case.call(base_url=server.url, session=session, timeout=30, verify=str(server.ca_file))
            case.validate_response(response, checks=CHECKS)

        try:
            run()
        except Exception as err:  # noqa: BLE001 - collected: every operation is tried
            findings.append(f"{operation.label}: {str(err)[:2000]}")
    session.close()
    record_property("schemathesis", {"operations": operations, "cases": cases, "findings": len(findings)})
    print(f"\nschemathesis [{server.database.driver}]: {operations} operations, {cases} cases, "
          f"{len(findings)} findings")
    assert operations and cases >= operations
    assert not findings, "\n\n".join(findings)


# Label selectors: Python's matches() and the Store's SQL agree -----------------------------

KEYS = ("app", "tier", "a", "example.com/team")
VALUES = ("", "x", "y", "web", "1", "5", "10", "007", "3a")


@pytest.fixture(scope="module")
def labelled_store(tmp_path_factory):
    """A real SQLite file with objects whose labels cover every key/value combination shape."""
    path = tmp_path_factory.mktemp("selectors") / "ark.db"
    settings_ = Settings.load(["--storage-driver", "sqlite", "--sqlite-path", str(path)], env={})
    engine = create_engine_for(settings_)
    upgrade_engine(engine)
    store = Store(engine)
    labels_of: dict[str, dict[str, str]] = {}
    rng = random.Random(7)
    examples = [{key: rng.choice(VALUES) for key in rng.sample(KEYS, rng.randint(0, len(KEYS)))} for _ in range(60)]
    for index, labels in enumerate([*examples, {}]):
        name = f"o{index}"
        labels_of[name] = labels
        obj = {"apiVersion": f"{GROUP}/v1alpha1", "kind": "Query",
               "metadata": {"name": name, "namespace": "sel", "uid": name, "labels": labels},
               "spec": {"input": "x"}}
        store.commit("queries.ark.mckinsey.com", "sel", name, Write(obj), None)
    yield store, labels_of
    engine.dispose()


def _requirement():
    key = st.sampled_from(KEYS)
    value = st.sampled_from(VALUES)
    values = st.lists(st.sampled_from(VALUES[1:]), min_size=1, max_size=3).map(",".join)
    number = st.sampled_from(("0", "1", "4", "5", "9", "-5"))
    return st.one_of(
        key, key.map(lambda k: "!" + k),
        st.tuples(key, st.sampled_from(("=", "==", "!=")), value).map("".join),
        st.tuples(key, st.sampled_from((" in ", " notin ")), values).map(lambda t: f"{t[0]}{t[1]}({t[2]})"),
        st.tuples(key, st.sampled_from((">", "<")), number).map("".join),
    )


@PROPERTY
@given(terms=st.lists(_requirement(), min_size=1, max_size=4))
def test_label_selector_in_python_and_in_sql_agree(labelled_store, terms):
    store, labels_of = labelled_store
    requirements = selectors.parse_label_selector(",".join(terms))
    expected = sorted(name for name, labels in labels_of.items() if selectors.matches(requirements, labels))
    page = store.list(ListQuery("queries.ark.mckinsey.com", "sel", requirements))
    assert sorted(json.loads(body)["metadata"]["name"] for body in page.items) == expected


@PROPERTY
@given(text=st.text(alphabet=string.printable + "()!=<>,\u00e9", max_size=80))
def test_any_label_selector_text_parses_or_is_400(text):
    try:
        selectors.parse_label_selector(text)
    except ApiError as err:
        assert err.code == 400
    try:
        selectors.parse_field_selector(text)
    except ApiError as err:
        assert err.code == 400


# Patches ------------------------------------------------------------------------------------

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.text(max_size=8),
                    st.floats(allow_nan=False, allow_infinity=False, width=32))
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text("abcxyz", min_size=1, max_size=3), inner, max_size=4)),
    max_leaves=20)
OBJECTS = st.dictionaries(st.text("abcxyz", min_size=1, max_size=3), JSON_VALUES, max_size=5)


def rfc7386(target, patch_value):
    """RFC 7386 section 2, as written there: the test's own reference."""
    if not isinstance(patch_value, dict):
        return copy.deepcopy(patch_value)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch_value.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = rfc7386(result.get(key), value)
    return result


@PROPERTY
@given(doc=OBJECTS, merge=OBJECTS)
def test_merge_patch_is_rfc7386(doc, merge):
    before = copy.deepcopy(doc)
    assert patch.apply_merge(doc, merge) == rfc7386(doc, merge)
    assert doc == before  # the live object is never changed in place


def _pointers(doc, prefix=""):
    yield prefix
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from _pointers(value, f"{prefix}/{key.replace('~', '~0').replace('/', '~1')}")
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            yield from _pointers(value, f"{prefix}/{index}")


@PROPERTY
@given(doc=OBJECTS, data=st.data())
def test_json_patch_add_then_test_holds(doc, data):
    parents = [p for p in _pointers(doc) if isinstance(_resolve(doc, p), dict)]
    parent = data.draw(st.sampled_from(parents))
    key = data.draw(st.text("abcxyz", min_size=1, max_size=3))
    value = data.draw(JSON_VALUES)
    path = f"{parent}/{key}"
    result = patch.apply_json_patch(doc, [{"op": "add", "path": path, "value": value},
                                          {"op": "test", "path": path, "value": value}])
    assert _resolve(result, path) == value


def _resolve(doc, pointer):
    for part in pointer.split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    return doc


OPERATION = st.fixed_dictionaries({"op": st.sampled_from(("add", "remove", "replace", "move", "copy", "test", "x"))},
                                  optional={"path": st.one_of(st.text("/abcxyz01~", max_size=8), st.integers()),
                                            "from": st.text("/abcxyz01~", max_size=8), "value": JSON_VALUES})


@PROPERTY
@given(doc=OBJECTS, operations=st.lists(st.one_of(OPERATION, JSON_VALUES), max_size=5))
def test_any_json_patch_applies_or_is_a_4xx(doc, operations):
    before = copy.deepcopy(doc)
    try:
        patch.apply_json_patch(doc, operations)
    except ApiError as err:
        assert err.code in (413, 422), err.message
        assert "<class" not in err.message and "object at 0x" not in err.message
    assert doc == before


# Continue tokens ----------------------------------------------------------------------------

NAMESPACES = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True)


@PROPERTY
@given(rv=st.integers(0, 2**63 - 1), namespace=NAMESPACES, name=st.text(max_size=40))
def test_continue_token_round_trips(rv, namespace, name):
    assert pagination.decode(pagination.encode(rv, namespace, name)) == (rv, (namespace, name))


@PROPERTY
@given(rv=st.integers(0, 2**63 - 1), namespace=NAMESPACES, name=st.text(max_size=20), data=st.data())
def test_tampered_continue_token_is_400_never_500(rv, namespace, name, data):
    token = pagination.encode(rv, namespace, name)
    how = data.draw(st.sampled_from(("flip", "cut", "append", "replace")))
    if how == "flip" and token:
        i = data.draw(st.integers(0, len(token) - 1))
        token = token[:i] + data.draw(st.characters()) + token[i + 1:]
    elif how == "cut":
        token = token[:data.draw(st.integers(0, len(token)))]
    elif how == "append":
        token += data.draw(st.text(max_size=10))
    else:
        token = data.draw(st.text(max_size=60))
    try:
        decoded_rv, (decoded_ns, _decoded_name) = pagination.decode(token)
    except ApiError as err:
        assert err.code == 400
    else:
        assert 0 <= decoded_rv < 2**63 and isinstance(decoded_ns, str)


# The body codec -----------------------------------------------------------------------------

@PROPERTY
@given(raw=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)),
       content_type=st.sampled_from(("application/json", "application/yaml", "application/apply-patch+yaml")))
def test_any_body_decodes_or_is_400_or_413(raw, content_type):
    try:
        value, _ = codec.decode(raw, content_type)
    except ApiError as err:
        assert err.code in (400, 413)
        assert "<class" not in err.message
    else:
        codec.dumps(value).encode("utf-8")  # whatever decodes can be stored and sent


@PROPERTY
@given(value=JSON_VALUES, obj=OBJECTS)
def test_values_round_trip_through_the_codec(value, obj):
    assert codec.decode(codec.dumps(value).encode(), "application/json")[0] == value
    assert codec.decode(yaml.safe_dump(obj).encode(), "application/yaml")[0] == obj
