"""The traffic list of every move: percentages that serve stay, tags stay, sums are 100."""

from __future__ import annotations

import pytest

from release import traffic
from release.traffic import Target

CURRENT = [Target("svc-a", 90), Target("svc-b", 10, "stable"), Target("svc-old", 0, "pr-7")]


def test_deploy_keeps_serving_percentages_and_every_tag_and_adds_the_canary_at_zero() -> None:
    result = traffic.for_deploy(CURRENT, "svc-new", "c-1a2b3c4")
    assert sorted(result) == sorted([*CURRENT, Target("svc-new", 0, "c-1a2b3c4")])


def test_deploying_the_same_tag_again_replaces_it() -> None:
    current = [Target("svc-a", 100), Target("svc-x", 0, "c-1a2b3c4")]
    result = traffic.for_deploy(current, "svc-new", "c-1a2b3c4")
    assert sorted(result) == [Target("svc-a", 100), Target("svc-new", 0, "c-1a2b3c4")]


def test_a_step_splits_between_stable_and_canary_and_keeps_other_tags() -> None:
    current = [Target("svc-a", 100), Target("svc-new", 0, "c-1"), Target("svc-old", 0, "pr-7")]
    result = traffic.for_step(current, "svc-a", "svc-new", "c-1", 25)
    assert sorted(result) == sorted(
        [Target("svc-a", 75, "stable"), Target("svc-new", 25, "c-1"), Target("svc-old", 0, "pr-7")]
    )


def test_promote_moves_the_stable_tag_and_keeps_the_previous_revision_as_prior() -> None:
    current = [Target("svc-a", 0, "stable"), Target("svc-new", 100, "c-1")]
    result = traffic.for_promote(current, "svc-a", "svc-new", "c-1")
    assert sorted(result) == [Target("svc-a", 0, "prior"), Target("svc-new", 100, "stable")]


def test_rollback_puts_the_stable_revision_back_to_100_and_keeps_the_canary_tag() -> None:
    current = [Target("svc-a", 50, "stable"), Target("svc-new", 50, "c-1")]
    result = traffic.for_rollback(current, "svc-a", "svc-new", "c-1")
    assert sorted(result) == [Target("svc-a", 100, "stable"), Target("svc-new", 0, "c-1")]


def test_the_stable_revision_is_the_tagged_one_else_the_largest_share() -> None:
    assert traffic.stable_revision(CURRENT) == "svc-b"
    assert traffic.stable_revision([Target("a", 30), Target("b", 70)]) == "b"
    assert traffic.stable_revision([]) is None


def test_a_list_that_does_not_add_up_to_100_is_refused() -> None:
    with pytest.raises(ValueError, match="add up to 100"):
        traffic.merge([Target("a", 60), Target("b", 30)])
