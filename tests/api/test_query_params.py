"""Query parameters as apimachinery converts them, over the real server on both databases.

A boolean is false only when its first value is ``0`` or, ignoring case, ``false``; anything
else — ``True`` (Python's spelling), ``1``, an empty value, ``abc`` — is true. An integer that
does not parse is a 400. Ark's own services use ``kubernetes_asyncio``, which sends
``watch=True``: its watch must stream.
"""
from __future__ import annotations

import asyncio
import json

import pytest
from arkrest import APPLY, MERGE, assert_status, obj
from kubernetes_asyncio import client, config, watch

TRUE_SPELLINGS = ["true", "True", "1", "", "abc"]
FALSE_SPELLINGS = ["false", "FALSE", "False", "0"]


def _get(ark, params: dict, **kwargs):
    return ark.http.get(ark.url(), params=params, timeout=30, **kwargs)


def _lines(response) -> list[dict]:
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


@pytest.mark.parametrize("spelling", TRUE_SPELLINGS)
def test_every_true_spelling_of_watch_starts_a_watch(ark, spelling):
    ark.create(obj("q1"))
    response = _get(ark, {"watch": spelling, "timeoutSeconds": "1"})
    assert response.status_code == 200, response.text
    events = _lines(response)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "q1")]


@pytest.mark.parametrize("spelling", FALSE_SPELLINGS)
def test_every_false_spelling_of_watch_lists(ark, spelling):
    ark.create(obj("q1"))
    response = _get(ark, {"watch": spelling})
    assert response.status_code == 200, response.text
    listing = response.json()
    assert listing["kind"] == "QueryList"
    assert [item["metadata"]["name"] for item in listing["items"]] == ["q1"]


def _watch_list(ark, **params: str) -> list[dict]:
    base = {"watch": "1", "sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan",
            "allowWatchBookmarks": "true", "timeoutSeconds": "1"}
    response = _get(ark, {**base, **params})
    assert response.status_code == 200, response.text
    return _lines(response)


@pytest.mark.parametrize("spelling", TRUE_SPELLINGS)
def test_true_spellings_of_allow_watch_bookmarks_send_the_initial_events_end_bookmark(ark, spelling):
    ark.create(obj("q1"))
    events = _watch_list(ark, allowWatchBookmarks=spelling)
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


@pytest.mark.parametrize("spelling", FALSE_SPELLINGS)
def test_false_spellings_of_allow_watch_bookmarks_send_no_bookmark(ark, spelling):
    ark.create(obj("q1"))
    assert [e["type"] for e in _watch_list(ark, allowWatchBookmarks=spelling)] == ["ADDED"]


@pytest.mark.parametrize("spelling", TRUE_SPELLINGS)
def test_true_spellings_of_send_initial_events_send_the_current_state(ark, spelling):
    ark.create(obj("q1"))
    rv = str(ark.revision())
    events = _watch_list(ark, sendInitialEvents=spelling, resourceVersion=rv)
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]


@pytest.mark.parametrize("spelling", FALSE_SPELLINGS)
def test_false_spellings_of_send_initial_events_start_from_now(ark, spelling):
    ark.create(obj("q1"))
    events = _watch_list(ark, sendInitialEvents=spelling, resourceVersion=str(ark.revision()))
    assert events == []


@pytest.mark.parametrize("spelling", TRUE_SPELLINGS + FALSE_SPELLINGS)
def test_send_initial_events_in_any_spelling_is_forbidden_on_a_list(ark, spelling):
    status = assert_status(_get(ark, {"sendInitialEvents": spelling}), 422, "Invalid")
    assert status["message"] == ('ListOptions.meta.k8s.io "" is invalid: sendInitialEvents: Forbidden: '
                                 "sendInitialEvents is forbidden for list")


@pytest.mark.parametrize("spelling", TRUE_SPELLINGS)
def test_true_spellings_of_orphan_dependents_leave_the_orphan_finalizer(ark, spelling):
    ark.create(obj("q1"))
    response = ark.http.delete(ark.url("queries", "q1"), params={"orphanDependents": spelling})
    assert response.status_code == 200, response.text
    assert response.json()["metadata"]["finalizers"] == ["orphan"]


@pytest.mark.parametrize("spelling", FALSE_SPELLINGS)
def test_false_spellings_of_orphan_dependents_delete_at_once(ark, spelling):
    ark.create(obj("q1"))
    response = ark.http.delete(ark.url("queries", "q1"), params={"orphanDependents": spelling})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "Success"
    assert ark.http.get(ark.url("queries", "q1")).status_code == 404


@pytest.mark.parametrize(("spelling", "code"), [(s, 200) for s in TRUE_SPELLINGS] + [(s, 409) for s in FALSE_SPELLINGS])
def test_force_in_any_spelling_is_allowed_on_apply_and_forbidden_elsewhere(ark, spelling, code):
    ark.create(obj("q1"), fieldManager="creator")  # owns spec.input: only a forced apply takes it
    applied = ark.patch("q1", obj("q1", spec={"input": "applied"}), content_type=APPLY, fieldManager="test",
                        force=spelling)
    assert applied.status_code == code, applied.text
    merged = ark.patch("q1", {"spec": {"input": "merged"}}, content_type=MERGE, force=spelling)
    status = assert_status(merged, 422, "Invalid")
    assert status["message"] == ('PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified '
                                 "for non-apply patch")


@pytest.mark.parametrize(("name", "value"), [("timeoutSeconds", "abc"), ("limit", "abc"), ("limit", ""),
                                             ("timeoutSeconds", "1.5"), ("limit", "99999999999999999999")])
def test_an_integer_that_does_not_parse_is_400(ark, name, value):
    status = assert_status(_get(ark, {name: value}), 400, "BadRequest")
    assert status["message"] == f'invalid value "{value}" for query parameter {name}: must be a 64-bit integer'


def test_an_integer_that_does_not_parse_on_a_watch_is_400(ark):
    status = assert_status(_get(ark, {"watch": "true", "timeoutSeconds": "abc"}), 400, "BadRequest")
    assert status["message"] == 'invalid value "abc" for query parameter timeoutSeconds: must be a 64-bit integer'


def test_the_first_value_of_a_repeated_parameter_decides(ark):
    ark.create(obj("q1"))
    listing = ark.http.get(ark.url() + "?watch=false&watch=true", timeout=30).json()
    assert listing["kind"] == "QueryList"


def test_kubernetes_asyncio_watch_streams_events(ark, server):
    """Ark's API service watches with kubernetes_asyncio, which sends ``watch=True``."""
    async def stream() -> list[tuple[str, str]]:
        await config.load_kube_config(config_file=str(server.kubeconfig))
        async with client.ApiClient() as api:
            custom = client.CustomObjectsApi(api)
            seen: list[tuple[str, str]] = []
            async with watch.Watch().stream(custom.list_namespaced_custom_object, "ark.mckinsey.com", "v1alpha1",
                                            ark.namespace, "queries", timeout_seconds=5) as events:
                async for event in events:
                    seen.append((event["type"], event["object"]["metadata"]["name"]))
                    if len(seen) == 1:
                        await custom.create_namespaced_custom_object("ark.mckinsey.com", "v1alpha1", ark.namespace,
                                                                     "queries", obj("q2"))
                    if len(seen) == 2:
                        break
            return seen

    ark.create(obj("q1"))
    assert asyncio.run(stream()) == [("ADDED", "q1"), ("ADDED", "q2")]
