"""Simulated canary releases: how often the statistics in slo/stats.py roll back a good canary.

    python -m benchmarks.canary_simulation [--releases 2000] [--rate 50] [--seed 13]

Each simulated release follows the step plan of release/environments/production.yaml (its
`canary` block: 5%, 25%, 50%, 100% for 15 minutes each, wait for data at most 1 hour past a
step's minimum; the built-in copy below is used when the file is absent). Requests arrive at
`--rate` per second, split between the canary and the baseline revision by the step's share, and
are judged after every 1-minute window, as the release does, for every SLO in slo/slos.yaml:
`canary_verdict(judge_rate(canary so far), compare_to_baseline(windows so far))`. FAIL in any
window rolls back; a step is left once its minimum has passed and every SLO is PASS; PASS at 100%
promotes; a step with NOT ENOUGH DATA past the wait limit ends the release ("cannot judge").

The baseline's bad share is `--baseline-share` of each SLO's budget (default 0.3: a healthy
service spending 30% of its budget). Scenarios: an equal canary (the false-rollback rate, which
must be at most alpha + 1 point), and canaries 2x and 5x worse in errors, and 5x worse in the
share of slow requests (the power to catch them). Seeded (NumPy's PCG64), so figures repeat.

Windows within a step have equal request counts and so the same canary share; the simulation
passes compare_to_baseline one summed pair per step, which gives exactly the statistic of the
per-window list (slo/stats.py, tests/slo/test_stats.py) at a fraction of the cost.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy
import yaml

import slo
from slo.stats import (
    DEFAULT_ALPHA,
    DEFAULT_BETA,
    Counts,
    Verdict,
    canary_verdict,
    compare_to_baseline,
    judge_rate,
)

REPO = Path(__file__).resolve().parent.parent
ENVIRONMENT_FILE = REPO / "release" / "environments" / "production.yaml"
WINDOW_S = 60
PROMOTED, ROLLED_BACK, CANNOT_JUDGE = "promoted", "rolled back", "cannot judge"


@dataclass(frozen=True)
class Plan:
    steps: tuple[tuple[int, float], ...]  # (percent to the canary, minimum seconds)
    wait_limit_s: float  # NOT ENOUGH DATA past a step's minimum for this long: cannot judge
    alpha: float
    beta: float
    source: str


# The same as release/environments/production.yaml's canary block, for a tree without it.
BUILT_IN_PLAN = Plan(
    ((5, 900.0), (25, 900.0), (50, 900.0), (100, 900.0)), 3600.0, 0.05, 0.2, "built-in"
)


@dataclass(frozen=True)
class Sli:
    name: str
    budget: float
    baseline_bad: float  # the baseline revision's bad share


@dataclass(frozen=True)
class Scenario:
    name: str
    worse: dict[str, float]  # SLO name -> canary's bad share / baseline's (1 if absent)


@dataclass(frozen=True)
class Outcome:
    decision: str
    canary_requests: int
    minutes: float
    cause: str = ""  # a rollback's first failing SLO and test, e.g. "latency vs baseline"


def load_plan(path: Path) -> Plan:
    """The canary block of a release environment file, or the built-in copy if there is none."""
    if not path.is_file():
        return BUILT_IN_PLAN
    canary = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("canary") or {}
    try:
        steps = tuple(
            (int(step["percent"]), slo.parse_duration(step["min_duration"]).total_seconds())
            for step in canary["steps"]
        )
        limit = slo.parse_duration(canary.get("not_enough_data_limit", "1h")).total_seconds()
    except (KeyError, TypeError, ValueError) as error:
        raise SystemExit(f"{path}: canary: {error}") from None
    alpha = float(canary.get("alpha", DEFAULT_ALPHA))
    beta = float(canary.get("beta", DEFAULT_BETA))
    source = path.relative_to(REPO) if path.is_relative_to(REPO) else path
    return Plan(steps, limit, alpha, beta, str(source))


def simulate_release(
    rng: numpy.random.Generator,
    plan: Plan,
    slis: Sequence[Sli],
    worse: dict[str, float],
    rate: float,
) -> Outcome:
    """One release through every step, judged after every window."""
    canary = {sli.name: Counts(0, 0) for sli in slis}
    finished_steps: dict[str, list[tuple[Counts, Counts]]] = {sli.name: [] for sli in slis}
    elapsed = 0.0
    for percent, minimum in plan.steps:
        per_window = round(rate * WINDOW_S)
        canary_n = round(per_window * percent / 100)
        baseline_n = per_window - canary_n
        step = {sli.name: (Counts(0, 0), Counts(0, 0)) for sli in slis}
        step_s = 0.0
        while True:
            step_s += WINDOW_S
            verdicts, cause = [], ""
            for sli in slis:
                canary_share = min(sli.baseline_bad * worse.get(sli.name, 1.0), 1.0)
                window_c = Counts(int(rng.binomial(canary_n, canary_share)), canary_n)
                window_b = Counts(int(rng.binomial(baseline_n, sli.baseline_bad)), baseline_n)
                step_c, step_b = step[sli.name]
                step[sli.name] = (step_c + window_c, step_b + window_b)
                canary[sli.name] += window_c
                rate_judgement = judge_rate(
                    canary[sli.name], sli.budget, alpha=plan.alpha, beta=plan.beta
                )
                comparison = compare_to_baseline(
                    [*finished_steps[sli.name], step[sli.name]], alpha=plan.alpha
                )
                verdict = canary_verdict(rate_judgement, comparison)
                if verdict is Verdict.FAIL and not cause:
                    failed_rate = rate_judgement.verdict is Verdict.FAIL
                    cause = f"{sli.name} {'over budget' if failed_rate else 'vs baseline'}"
                verdicts.append(verdict)
            requests = canary[slis[0].name].total
            minutes = (elapsed + step_s) / 60
            if cause:
                return Outcome(ROLLED_BACK, requests, minutes, cause)
            if step_s >= minimum and all(v is Verdict.PASS for v in verdicts):
                break
            if step_s >= minimum + plan.wait_limit_s:
                return Outcome(CANNOT_JUDGE, requests, minutes)
        elapsed += step_s
        for sli in slis:
            finished_steps[sli.name].append(step[sli.name])
    return Outcome(PROMOTED, canary[slis[0].name].total, elapsed / 60)


def run_scenario(
    scenario: Scenario, releases: int, seed: int, plan: Plan, slis: Sequence[Sli], rate: float
) -> list[Outcome]:
    rng = numpy.random.default_rng(seed)
    return [simulate_release(rng, plan, slis, scenario.worse, rate) for _ in range(releases)]


def share(outcomes: Sequence[Outcome], decision: str) -> float:
    return sum(o.decision == decision for o in outcomes) / len(outcomes)


def wilson_upper(successes: float, n: int, z: float = 1.96) -> float:
    """The upper end of the Wilson 95% interval of a proportion (how sure the rate is)."""
    p = successes / n
    centre = p + z * z / (2 * n)
    spread = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5)
    return (centre + spread) / (1 + z * z / n)


def table(rows: Sequence[tuple[Scenario, list[Outcome]]]) -> str:
    header = (
        "canary",
        "releases",
        "rolled back",
        "promoted",
        "cannot judge",
        "median requests",
        "median min",
    )
    lines = [header]
    for scenario, outcomes in rows:
        decided = [o for o in outcomes if o.decision != CANNOT_JUDGE] or outcomes
        lines.append(
            (
                scenario.name,
                f"{len(outcomes):,}",
                f"{share(outcomes, ROLLED_BACK):.1%}",
                f"{share(outcomes, PROMOTED):.1%}",
                f"{share(outcomes, CANNOT_JUDGE):.1%}",
                f"{statistics.median(o.canary_requests for o in decided):,.0f}",
                f"{statistics.median(o.minutes for o in decided):.0f}",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.canary_simulation", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--releases", type=int, default=2000, help="equal-canary releases")
    parser.add_argument(
        "--power-releases", type=int, default=500, help="releases per worse-canary scenario"
    )
    parser.add_argument("--rate", type=float, default=50.0, help="requests/s to the service")
    parser.add_argument(
        "--baseline-share",
        type=float,
        default=0.3,
        help="the baseline's bad share as a share of each SLO's budget",
    )
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--slo-file", type=Path, default=slo.DEFAULT_SLOS_PATH)
    parser.add_argument("--environment-file", type=Path, default=ENVIRONMENT_FILE)
    args = parser.parse_args(argv)
    if args.releases < 1 or args.power_releases < 0 or args.rate <= 0:
        parser.error("--releases must be >= 1, --power-releases >= 0 and --rate > 0")
    if not 0 < args.baseline_share <= 1:
        parser.error("--baseline-share must be within (0, 1]")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        slos = slo.load_slos(args.slo_file)
    except slo.SloConfigError as error:
        print(error, file=sys.stderr)
        return 2
    plan = load_plan(args.environment_file)
    slis = [
        Sli(o.name, o.error_budget, o.error_budget * args.baseline_share) for o in slos.objectives
    ]
    availability = next((s.name for s in slis if s.name == "availability"), slis[0].name)
    latency = next((s.name for s in slis if s.name == "latency"), slis[-1].name)
    scenarios = [(Scenario("equal", {}), args.releases)]
    if args.power_releases:
        scenarios += [
            (Scenario("2x errors", {availability: 2.0}), args.power_releases),
            (Scenario("5x errors", {availability: 5.0}), args.power_releases),
            (Scenario("5x slow", {latency: 5.0}), args.power_releases),
        ]
    started = time.perf_counter()
    rows = [
        (scenario, run_scenario(scenario, count, args.seed + index, plan, slis, args.rate))
        for index, (scenario, count) in enumerate(scenarios)
    ]
    seconds = time.perf_counter() - started
    steps = ", ".join(f"{p}% {m / 60:g} min" for p, m in plan.steps)
    print(
        f"Canary simulation: {args.rate:g} requests/s; steps {steps} (from {plan.source}); "
        f"1-minute windows; alpha {plan.alpha:g}, beta {plan.beta:g}; baseline at "
        f"{args.baseline_share:g} of each budget ("
        + ", ".join(f"{s.name} {s.baseline_bad:.3%}" for s in slis)
        + f"); seed {args.seed}"
    )
    print(table(rows))
    equal = rows[0][1]
    false_rollbacks = share(equal, ROLLED_BACK)
    bound = plan.alpha + 0.01
    upper = wilson_upper(false_rollbacks * len(equal), len(equal))
    verdict = "met" if false_rollbacks <= bound else "NOT MET"
    causes = Counter(o.cause for o in equal if o.decision == ROLLED_BACK)
    if causes:
        print(
            "equal canary's rollbacks by first failing test: "
            + ", ".join(f"{c} {n / len(equal):.2%}" for c, n in causes.most_common())
        )
    print(
        f"false rollbacks of an equal canary: {false_rollbacks:.2%} (95% up to {upper:.2%}); "
        f"bound alpha + 1 point = {bound:.0%}: {verdict}. {seconds:.1f} s."
    )
    return 0 if false_rollbacks <= bound else 1


if __name__ == "__main__":
    sys.exit(main())
