"""Traffic lists for each move of a release, computed from what is serving now.

A target is (revision, percent, tag). The release only ever sends revision-pinned targets, so
that the new revision gets exactly the share asked for: a LATEST target would hand it 100% the
moment it becomes ready. Tags of other targets (previews, `prior`) are kept on every move.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.cloud import run_v2

STABLE_TAG = "stable"
PRIOR_TAG = "prior"
REVISION = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION
LATEST = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST


@dataclass(frozen=True, order=True)
class Target:
    revision: str
    percent: int
    tag: str = ""

    def message(self) -> run_v2.TrafficTarget:
        return run_v2.TrafficTarget(
            type_=REVISION, revision=self.revision, percent=self.percent, tag=self.tag
        )


def serving(service: run_v2.Service) -> list[Target]:
    """What the service serves now (traffic_statuses), LATEST resolved to its revision."""
    targets = []
    for status in service.traffic_statuses:
        revision = status.revision or service.latest_ready_revision
        targets.append(Target(revision, status.percent, status.tag))
    return targets


def of_spec(service: run_v2.Service) -> list[Target]:
    """The traffic the service asks for (traffic), LATEST resolved to the latest ready."""
    return [
        Target(
            t.revision if t.type_ == REVISION else service.latest_ready_revision, t.percent, t.tag
        )
        for t in service.traffic
    ]


def same(a: list[Target], b: list[Target]) -> bool:
    return sorted(a) == sorted(b)


def stable_revision(current: list[Target]) -> str | None:
    """The revision tagged `stable`, else the one serving the largest share."""
    for target in current:
        if target.tag == STABLE_TAG:
            return target.revision
    shares = [t for t in current if t.percent > 0]
    return max(shares, key=lambda t: t.percent).revision if shares else None


def rows(targets: list[Target]) -> list[list[Any]]:
    """Targets as JSON rows [revision, percent, tag] (the release state's `before`)."""
    return [[t.revision, t.percent, t.tag] for t in targets]


def from_rows(rows: list[list[Any]]) -> list[Target]:
    return [Target(revision, percent, tag) for revision, percent, tag in rows]


def _tags_except(current: list[Target], drop: set[str]) -> list[Target]:
    """The other tagged targets at 0%, so that their URLs keep working."""
    return [Target(t.revision, 0, t.tag) for t in current if t.tag and t.tag not in drop]


def for_deploy(current: list[Target], canary: str, tag: str) -> list[Target]:
    """Serving percentages unchanged, every other tag kept, the canary added at 0% with `tag`."""
    kept = [t for t in current if t.percent > 0 and t.tag != tag]
    kept += [t for t in current if t.percent == 0 and t.tag and t.tag != tag]
    return merge([*kept, Target(canary, 0, tag)])


def for_step(
    current: list[Target], stable: str, canary: str, tag: str, percent: int
) -> list[Target]:
    """`percent` to the canary, the rest to the stable revision (tagged `stable`)."""
    others = _tags_except(current, {STABLE_TAG, tag})
    targets = [Target(canary, percent, tag), Target(stable, 100 - percent, STABLE_TAG)]
    return merge([*targets, *others])


def for_stop(current: list[Target], before: list[Target]) -> list[Target]:
    """What served before the release, every tag kept at 0% (the first of two with one tag
    wins: the one in `before`)."""
    return merge([*before, *_tags_except(current, set())])


def for_promote(current: list[Target], stable: str | None, canary: str, tag: str) -> list[Target]:
    """The canary at 100% and tagged `stable`; the previous stable kept at 0% as `prior`."""
    others = _tags_except(current, {STABLE_TAG, PRIOR_TAG, tag})
    targets = [Target(canary, 100, STABLE_TAG)]
    if stable and stable != canary:
        targets.append(Target(stable, 0, PRIOR_TAG))
    return merge([*targets, *others])


def for_rollback(current: list[Target], stable: str, canary: str | None, tag: str) -> list[Target]:
    """The recorded stable revision back to 100%; the canary keeps its tag at 0% for debugging."""
    others = _tags_except(current, {STABLE_TAG, tag})
    targets = [Target(stable, 100, STABLE_TAG)]
    if canary and canary != stable:
        targets.append(Target(canary, 0, tag))
    return merge([*targets, *others])


def merge(targets: list[Target]) -> list[Target]:
    """One entry per (revision, tag); untagged 0% entries dropped; the first wins a tag."""
    seen_tags: set[str] = set()
    merged: dict[tuple[str, str], int] = {}
    for t in targets:
        if t.tag and t.tag in seen_tags:
            continue
        if t.tag:
            seen_tags.add(t.tag)
        merged[(t.revision, t.tag)] = merged.get((t.revision, t.tag), 0) + t.percent
    result = [Target(r, p, tag) for (r, tag), p in merged.items() if p > 0 or tag]
    total = sum(t.percent for t in result)
    if total != 100:
        raise ValueError(f"traffic must add up to 100%, got {total}%: {result}")
    return result


def pinned_warning(service: run_v2.Service) -> str | None:
    """The trap of google-github-actions/deploy-cloudrun#202: traffic pinned to named revisions
    gives every later deploy 0%. Say so when the latest ready revision serves nothing."""
    latest = service.latest_ready_revision
    if not latest or any(t.type_ == LATEST for t in service.traffic):
        return None
    if any(t.revision == latest and t.percent > 0 for t in serving(service)):
        return None
    return (
        f"the latest revision {latest} serves 0%: traffic is pinned to named revisions, so a "
        "deploy made outside this release got no traffic (deploy-cloudrun#202); this release "
        "keeps what is serving and adds the canary at 0%"
    )
