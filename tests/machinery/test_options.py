"""Query options parsed as apimachinery parses them: conversions, then each options kind's rules."""
from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from ark.machinery import params
from ark.machinery.errors import ApiError
from ark.machinery.options import parse_delete_options, parse_list_options, parse_write_options


def args(**values: str | list[str]) -> MultiDict:
    return MultiDict([(k, v) for k, vs in values.items() for v in (vs if isinstance(vs, list) else [vs])])


@pytest.mark.parametrize("value", ["true", "True", "TRUE", "1", "", "abc", "yes", "-1"])
def test_a_boolean_is_true_unless_zero_or_false(value):
    assert params.boolean(args(watch=value), "watch") is True
    assert params.optional_boolean(args(watch=value), "watch") is True


@pytest.mark.parametrize("value", ["false", "False", "FALSE", "fAlSe", "0"])
def test_a_boolean_is_false_for_zero_and_false_in_any_case(value):
    assert params.boolean(args(watch=value), "watch") is False
    assert params.optional_boolean(args(watch=value), "watch") is False


def test_an_absent_boolean_is_false_or_none():
    assert params.boolean(args(), "watch") is False
    assert params.optional_boolean(args(), "watch") is None


def test_the_first_value_decides():
    assert params.boolean(args(watch=["0", "true"]), "watch") is False
    assert params.int64(args(limit=["5", "x"]), "limit") == 5


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("-3", -3), ("+7", 7), (str(2**63 - 1), 2**63 - 1),
                                             (str(-(2**63)), -(2**63))])
def test_int64_parses_signed_decimals(text, value):
    assert params.int64(args(limit=text), "limit") == value
    assert params.optional_int64(args(limit=text), "limit") == value


@pytest.mark.parametrize("text", ["", "abc", "1.5", "0x10", " 1", str(2**63), "\u0661"])
def test_int64_refuses_what_go_does_not_parse(text):
    with pytest.raises(ApiError) as raised:
        params.int64(args(limit=text), "limit")
    assert (raised.value.code, raised.value.reason) == (400, "BadRequest")
    assert raised.value.message == f'invalid value "{text}" for query parameter limit: must be a 64-bit integer'


def test_absent_integers():
    assert params.int64(args(), "limit") == 0
    assert params.optional_int64(args(), "timeoutSeconds") is None


def test_list_options_of_a_watch_list():
    options = parse_list_options(args(watch="True", sendInitialEvents="1", resourceVersionMatch="NotOlderThan",
                                      allowWatchBookmarks="", timeoutSeconds="30", labelSelector="a=b"))
    assert (options.watch, options.watch_list, options.allow_watch_bookmarks, options.timeout_seconds) == \
        (True, True, True, 30)
    assert [r.key for r in options.label_selector] == ["a"]


@pytest.mark.parametrize(("query", "message"), [
    ({"resourceVersionMatch": "NotOlderThan"},
     "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"),
    ({"resourceVersionMatch": "Exact", "resourceVersion": "0"},
     'resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"'),
    ({"resourceVersionMatch": "Sometimes", "resourceVersion": "1"},
     'resourceVersionMatch: Unsupported value: "Sometimes": supported values: "Exact", "NotOlderThan", ""'),
    ({"sendInitialEvents": "false"}, "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list"),
    ({"watch": "1", "sendInitialEvents": "true"},
     "resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"),
    ({"watch": "1", "resourceVersionMatch": "NotOlderThan"},
     "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is "
     "provided"),
])
def test_list_options_are_validated_as_apimachinery_does(query, message):
    with pytest.raises(ApiError) as raised:
        parse_list_options(args(**query))
    assert raised.value.code == 422
    assert raised.value.message == f'ListOptions.meta.k8s.io "" is invalid: {message}'


@pytest.mark.parametrize(("value", "force"), [("true", True), ("True", True), ("", True), ("false", False),
                                              ("0", False)])
def test_force_is_converted_on_apply(value, force):
    assert parse_write_options(args(force=value), "PatchOptions", allow_force=True).force is force


def test_force_in_any_spelling_is_forbidden_unless_apply():
    for value in ("false", "0", "true"):
        with pytest.raises(ApiError) as raised:
            parse_write_options(args(force=value), "PatchOptions")
        assert raised.value.code == 422


@pytest.mark.parametrize(("value", "policy"), [("true", "Orphan"), ("True", "Orphan"), ("", "Orphan"),
                                               ("false", "Background"), ("0", "Background")])
def test_orphan_dependents_from_the_query(value, policy):
    assert parse_delete_options(b"", "application/json", args(orphanDependents=value)).propagation_policy == policy


def test_orphan_dependents_and_a_propagation_policy_cannot_be_both_set():
    with pytest.raises(ApiError) as raised:
        parse_delete_options(b'{"orphanDependents": true, "propagationPolicy": "Background"}', "application/json",
                             args())
    assert raised.value.message == ('DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Invalid value: '
                                    '"Background": orphanDependents and deletionPropagation cannot be both set')
