"""The watch tests' oracle itself: a timeline of acknowledged writes judges event streams, and
it does find every kind of delivery mistake (so a green watch test means something)."""
from __future__ import annotations

from watchkit import Ack, Timeline

# q1 is created at 2, relabelled at 4, deleted (revision unknown), created again (new uid) at 7;
# q2 is created at 3 and relabelled out of team a at 5.
ACKS = [Ack("q1", "u1", 2, {"team": "a"}), Ack("q2", "u2", 3, {"team": "a"}), Ack("q1", "u1", 4, {"team": "b"}),
        Ack("q2", "u2", 5, {"team": "b"}), Ack("q1", "u1", None, {}), Ack("q1", "u3", 7, {"team": "a"})]
EXACT = [("ADDED", "q1", 2, "u1"), ("ADDED", "q2", 3, "u2"), ("MODIFIED", "q1", 4, "u1"),
         ("MODIFIED", "q2", 5, "u2"), ("DELETED", "q1", 6, "u1"), ("ADDED", "q1", 7, "u3")]


def team_a(labels: dict) -> bool:
    return labels.get("team") == "a"


def test_the_exact_sequence_passes():
    assert Timeline(ACKS).check(EXACT, 1) == []


def test_a_selector_turns_leaving_into_deleted():
    got = [("ADDED", "q1", 2, "u1"), ("ADDED", "q2", 3, "u2"), ("DELETED", "q1", 4, "u1"),
           ("DELETED", "q2", 5, "u2"), ("ADDED", "q1", 7, "u3")]
    assert Timeline(ACKS).check(got, 1, selector=team_a) == []


def test_every_mistake_is_found():
    timeline = Timeline(ACKS)
    assert timeline.check(EXACT[:2] + EXACT[3:], 1) == ["missing ('MODIFIED', 'q1', 4)"]
    assert timeline.check([*EXACT, EXACT[-1]], 1)[0].startswith("revisions not strictly increasing")
    swapped = [EXACT[1], EXACT[0], *EXACT[2:]]
    assert timeline.check(swapped, 1)[0].startswith("revisions not strictly increasing")
    assert timeline.check([*EXACT[:4], ("DELETED", "q1", 8, "u1"), EXACT[5]], 1)  # deleted after re-creation
    assert "missing DELETED of q1 (u1)" in timeline.check([*EXACT[:4], EXACT[5]], 1)
    assert timeline.check([("ADDED", "q9", 1, "u9"), *EXACT], 0)
    assert timeline.check([*EXACT[:2], ("MODIFIED", "q1", 4, "u1")], 1)  # stops early: the rest is missing


def test_a_resumed_watch_owes_only_what_came_after_its_revision():
    timeline = Timeline(ACKS)
    assert timeline.check(EXACT[3:], 4) == []
    assert timeline.check(EXACT[2:], 4) == ["('MODIFIED', 'q1', 4, 'u1') is not after the watch's revision 4"]
    # Resumed at 5 the delete's revision is unknown: it may or may not fall after 5.
    assert timeline.check(EXACT[4:], 5) == []
    assert timeline.check(EXACT[5:], 5) == []


def test_initial_state_of_a_watch_list():
    timeline = Timeline(ACKS)
    assert timeline.check_state([("q1", 4), ("q2", 5)], 5) == []
    assert timeline.check_state([("q1", 4)], 5) == ["missing initial ('q2', 5)"]
    assert timeline.check_state([("q1", 2), ("q2", 5)], 5)  # an old state of q1
    assert timeline.check_state([("q1", 7)], 7, selector=team_a) == []
