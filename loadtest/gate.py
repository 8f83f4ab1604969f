"""The release gate: judge a run's recorded requests against the SLOs in slo/.

Meaning, as in Cloud Monitoring's request-based SLOs:
- availability: good = requests that did not fail, out of all. Failed = a 5xx, no answer at all,
  a wrong answer (e.g. a wrong label for a known image) or an unexpected 4xx. 401/403/429 are
  not service failures (Cloud Monitoring counts them good too); a run dominated by them cannot
  be judged instead.
- latency: good = requests answered faster than threshold_ms (strictly), out of all, counted
  exactly per request (not read off a histogram). Slow requests are the bad count.
- burn rate = observed bad share / error budget.

Each objective's bad count is judged by `slo.stats.judge_rate` against its error budget, the
same test the release canary applies to the canary revision (Wald's SPRT between half the
budget and the budget; see slo/stats.py): FAIL once the data favours a bad share at the budget
or above over half of it (16 to 1), PASS once it favours half the budget (4.75 to 1, at least
3,114 requests for 99.9%), NOT ENOUGH DATA in between. So a run near the
budget is judged the same way by the gate and by the canary.

Verdicts and exit codes, in this order:
1. the load generator was saturated (Locust's CPU warning, above 90%), or some worker's results
   never reached the master, or no request was made: nothing can be trusted -> 2;
2. an objective FAILs -> 1 (a burst of failures fails even a short run);
3. an objective has NOT ENOUGH DATA (e.g. fewer than 3,114 requests for 99.9%) -> 2;
4. most answers were 401/403/429 (an auth or quota problem) -> 2;
5. otherwise -> 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from loadtest.recorder import (
    AUTH_OR_QUOTA,
    FAILED,
    Recorder,
)
from slo import Objective, SloSet, budget
from slo.stats import Counts, Judgement, Verdict, judge_rate, requests_to_pass

# More than this share of 401/403/429 answers: the run measured the front door, not the service.
AUTH_OR_QUOTA_DOMINANT_SHARE = 0.5
CPU_WARNING_PERCENT = 90


class ExitCode(IntEnum):
    PASS = 0
    BREACH = 1
    CANNOT_JUDGE = 2


PASS, FAIL, NOT_ENOUGH_DATA = Verdict.PASS, Verdict.FAIL, Verdict.NOT_ENOUGH_DATA


@dataclass(frozen=True)
class GeneratorHealth:
    """What the load generator knows about itself at the end of the run."""

    saturated: bool = False
    peak_cpu_percent: float | None = None
    missing_reports: tuple[str, ...] = ()  # workers whose final results never arrived


@dataclass(frozen=True)
class ObjectiveRow:
    objective: Objective
    total: int
    bad: int
    judgement: Judgement  # slo.stats.judge_rate of bad out of total against the error budget
    needed: int  # requests (with this many bad) that judge_rate would pass

    @property
    def verdict(self) -> Verdict:
        return self.judgement.verdict

    @property
    def observed(self) -> float | None:
        return (self.total - self.bad) / self.total if self.total else None

    @property
    def burn_rate(self) -> float | None:
        if not self.total:
            return None
        return budget.burn_rate(self.bad / self.total, self.objective.goal)

    @property
    def target(self) -> str:
        goal = percent(self.objective.goal)
        if self.objective.sli == "latency":
            return f"{goal} under {self.objective.threshold_ms:g} ms"
        return f"{goal} not failed"

    @property
    def bad_word(self) -> str:
        return "slow" if self.objective.sli == "latency" else "failed"


@dataclass(frozen=True)
class GateResult:
    exit_code: ExitCode
    rows: tuple[ObjectiveRow, ...]
    reasons: tuple[str, ...] = field(default=())

    @property
    def verdict(self) -> str:
        return {0: "PASS", 1: "FAIL", 2: "CANNOT JUDGE"}[int(self.exit_code)]


def evaluate(slos: SloSet, recorder: Recorder, generator: GeneratorHealth) -> GateResult:
    """Judge the recorded run; see the module docstring for the order of the verdicts."""
    rows = tuple(judge(objective, recorder) for objective in slos.objectives)
    breaches = [_breach_reason(row) for row in rows if row.verdict == FAIL]
    untrusted = _untrusted_reasons(recorder, generator)
    if untrusted:
        also = [f"(the data also shows a breach, not trusted: {reason})" for reason in breaches]
        return GateResult(ExitCode.CANNOT_JUDGE, rows, tuple(untrusted + also))
    if breaches:
        return GateResult(ExitCode.BREACH, rows, tuple(breaches))
    reasons = [_too_few_reason(row) for row in rows if row.verdict == NOT_ENOUGH_DATA]
    auth_share = recorder.outcomes[AUTH_OR_QUOTA] / recorder.total
    if auth_share > AUTH_OR_QUOTA_DOMINANT_SHARE:
        reasons.append(
            f"{percent(auth_share)} of the answers were 401, 403 or 429: an authentication or "
            "quota problem, not a measurement of the service (check the identity token, --auth, "
            "the caller's roles/run.invoker, or the quota)"
        )
    if reasons:
        return GateResult(ExitCode.CANNOT_JUDGE, rows, tuple(reasons))
    return GateResult(ExitCode.PASS, rows)


def judge(objective: Objective, recorder: Recorder) -> ObjectiveRow:
    """One objective's row: its bad count judged against the error budget by slo.stats."""
    total = recorder.total
    if objective.sli == "latency":
        bad = total - recorder.count_faster_than(objective.threshold_ms)
    else:
        bad = sum(recorder.outcomes[outcome] for outcome in FAILED)
    judgement = judge_rate(Counts(bad, total), objective.error_budget)
    return ObjectiveRow(
        objective, total, bad, judgement, requests_to_pass(bad, objective.error_budget)
    )


def _untrusted_reasons(recorder: Recorder, generator: GeneratorHealth) -> list[str]:
    reasons = []
    if generator.saturated:
        peak = generator.peak_cpu_percent
        at = f" (peak {peak:.0f}%)" if peak is not None else ""
        reasons.append(
            f"the load generator's CPU went above {CPU_WARNING_PERCENT}%{at}: its timings cannot "
            "be trusted; spread the load with --processes or workers on other machines"
        )
    if generator.missing_reports:
        reasons.append(
            "results from some workers never reached the master: "
            + ", ".join(generator.missing_reports)
        )
    if recorder.total == 0:
        reasons.append("no request was made (is the target reachable?)")
    return reasons


def _breach_reason(row: ObjectiveRow) -> str:
    return (
        f"{row.objective.name}: {row.bad:,} of {row.total:,} requests {row.bad_word} "
        f"({percent(row.bad / row.total)}): the {percent(row.objective.goal)} goal is breached, "
        f"the data favours a bad share at its {percent(row.objective.error_budget)} budget or "
        f"above over half of it (log likelihood ratio {row.judgement.statistic:.2f} >= "
        f"{row.judgement.thresholds['fail_at']:.2f})"
    )


def _too_few_reason(row: ObjectiveRow) -> str:
    more = max(row.needed - row.total, 1)
    return (
        f"{row.objective.name}: {row.bad:,} of {row.total:,} requests {row.bad_word} is not "
        f"enough to show the {percent(row.objective.goal)} goal met; at least {more:,} more "
        f"requests without a {row.bad_word} one are needed ({row.needed:,} in all; run longer "
        "or at a higher rate)"
    )


def percent(share: float | None) -> str:
    if share is None:
        return "n/a"
    text = f"{share * 100:.3f}".rstrip("0").rstrip(".")
    return f"{text}%"
