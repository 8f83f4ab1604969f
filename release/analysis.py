"""The verdict of a canary after each window, from the statistics in slo.stats.

For every SLO of slo/slos.yaml, over all windows read since the release began:
- the canary against the SLO: `judge_rate` (Wald's SPRT) of its bad events against the error
  budget (1 - goal);
- the canary against the baseline: `compare_to_baseline` (an anytime-valid count test) on the
  (canary, stable) pairs of every window.
Both stay valid when called after every window, so the release may look as often as it likes.

An SLO's verdict is `canary_verdict` (the rule the canary simulation in benchmarks/ measures):
FAIL if either test fails; else the absolute test's verdict, since when the service almost never
fails the comparison has too few bad events to conclude and the absolute test is what can pass
the canary. Too little traffic never counts as a pass. The canary FAILs if any SLO fails and
PASSes only when every SLO passes.
"""

from __future__ import annotations

from typing import Any

from release.environment import Environment
from slo.stats import Counts, Verdict, canary_verdict, compare_to_baseline, judge_rate


def judge(env: Environment, checks: list[dict[str, Any]]) -> dict[str, Any]:
    """{"verdict": ..., "objectives": {name: {verdict, canary, baseline, rate, comparison}}}."""
    objectives = {}
    for objective in env.slos.objectives:
        name = objective.name
        pairs = [(Counts(*c["canary"][name]), Counts(*c["baseline"][name])) for c in checks]
        canary = sum((p[0] for p in pairs), Counts(0, 0))
        baseline = sum((p[1] for p in pairs), Counts(0, 0))
        rate = judge_rate(
            canary, objective.error_budget, alpha=env.canary.alpha, beta=env.canary.beta
        )
        comparison = compare_to_baseline(pairs, alpha=env.canary.alpha)
        objectives[name] = {
            "verdict": canary_verdict(rate, comparison).value,
            "budget": objective.error_budget,
            "canary": [canary.bad, canary.total],
            "baseline": [baseline.bad, baseline.total],
            "rate": rate.as_dict(),
            "comparison": comparison.as_dict(),
        }
    verdicts = {item["verdict"] for item in objectives.values()}
    if Verdict.FAIL.value in verdicts:
        overall = Verdict.FAIL
    elif verdicts == {Verdict.PASS.value}:
        overall = Verdict.PASS
    else:
        overall = Verdict.NOT_ENOUGH_DATA
    return {"verdict": overall.value, "objectives": objectives}


def reasons(judgement: dict[str, Any]) -> str:
    """One line per SLO, for the console and the record."""
    lines = []
    for name, item in judgement["objectives"].items():
        lines.append(
            f"{name}: {item['verdict']} (vs SLO: {item['rate']['reason']}; "
            f"vs baseline: {item['comparison']['reason']})"
        )
    return "\n".join(lines)
