"""Load and validate release/environments/<env>.yaml: the Cloud Run service and its rollout.

Every problem is a ConfigError naming the file, the field and what is wrong (README "Release"
lists the fields). The SLOs themselves are not repeated here: they come from slo/slos.yaml.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import slo
from slo.fields import FieldError, FieldReader, read_yaml
from slo.stats import DEFAULT_ALPHA, DEFAULT_BETA

PACKAGE_DIR = Path(__file__).resolve().parent
ENVIRONMENTS_DIR = PACKAGE_DIR / "environments"
REQUIRED_ENV = ("PROJECT_ID", "LOCATION", "ENDPOINT_ID", "BACKEND")
# Cloud Run limits: memory 128Mi-32Gi, CPU 1-8 (whole) or fractions below 1, concurrency
# 1-1000, request timeout up to 3600 s (Cloud Run docs, "Configure services").
MAX_CONCURRENCY = 1000
# Cloud Run metrics are sampled every 60 s and visible up to 180 s later (Cloud Monitoring,
# "Google Cloud metrics": run.googleapis.com).
METRIC_DELAY = timedelta(minutes=3)
MAX_TIMEOUT_S = 3600
_MEMORY = re.compile(r"^[1-9][0-9]*(Mi|Gi)$")
_SERVICE = re.compile(r"^[a-z]([-a-z0-9]{0,47}[a-z0-9])?$")  # Cloud Run service names
_ACCOUNT = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]@[-a-z0-9.]+\.iam\.gserviceaccount\.com$")


class ConfigError(FieldError):
    """A wrong environment file; str() names the file, the field and the reason."""


@dataclass(frozen=True)
class Probes:
    startup_path: str
    liveness_path: str
    initial_delay_s: int
    timeout_s: int
    period_s: int
    failure_threshold: int


@dataclass(frozen=True)
class Container:
    memory: str
    cpu: str
    concurrency: int
    timeout_s: int
    min_instances: int
    max_instances: int
    env: dict[str, str]


@dataclass(frozen=True)
class Step:
    percent: int
    min_duration: timedelta


@dataclass(frozen=True)
class Canary:
    steps: tuple[Step, ...]
    metric_delay: timedelta
    poll: timedelta
    not_enough_data_limit: timedelta
    alpha: float
    beta: float


@dataclass(frozen=True)
class Environment:
    name: str
    source: Path
    project: str
    region: str
    service: str
    runtime_service_account: str
    audience: str
    container: Container
    probes: Probes
    gate_args: tuple[str, ...]
    canary: Canary
    slos: slo.SloSet

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.region}"

    @property
    def service_name(self) -> str:
        return f"{self.parent}/services/{self.service}"


def resolve(env: str) -> Path:
    """An environment name (release/environments/NAME.yaml) or a path to a file."""
    candidate = Path(env)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        return candidate
    return ENVIRONMENTS_DIR / f"{env}.yaml"


def environment_files() -> list[Path]:
    return sorted(ENVIRONMENTS_DIR.glob("*.yaml"))


def load(env: str, slo_file: Path | None = None) -> Environment:
    """Read and check one environment file; ConfigError on the first problem."""
    source = resolve(env)
    try:
        slos = slo.load_slos(slo_file)
    except slo.SloConfigError as error:
        raise ConfigError(error.source, error.field, error.reason) from None
    reader = _Reader(source)
    top = {"project", "region", "service", "runtime_service_account", "audience"}
    top |= {"container", "probes", "gate", "canary"}
    doc = reader.mapping(read_yaml(source, ConfigError), "(top level)", top)
    service = doc.get("service", slos.service)
    if not isinstance(service, str) or not _SERVICE.match(service):
        raise reader.fail("service", f"must be a Cloud Run service name, got {service!r}")
    account = reader.text(doc, "runtime_service_account")
    if not _ACCOUNT.match(account):
        raise reader.fail(
            "runtime_service_account", f"must be a service account e-mail, got {account!r}"
        )
    audience = reader.text(doc, "audience")
    if not audience.startswith("https://"):
        raise reader.fail("audience", f"must be an https:// URL, got {audience!r}")
    gate = reader.mapping(doc.get("gate") or {}, "gate", {"args"})
    gate_args = gate.get("args") or []
    if not isinstance(gate_args, list) or not all(isinstance(a, str) for a in gate_args):
        raise reader.fail("gate.args", "must be a list of strings")
    if "--host" in gate_args:
        raise reader.fail("gate.args", "--host is the tag URL, set by the release")
    return Environment(
        name=source.stem,
        source=source,
        project=reader.text(doc, "project"),
        region=reader.text(doc, "region"),
        service=service,
        runtime_service_account=account,
        audience=audience,
        container=reader.container(doc.get("container")),
        probes=reader.probes(doc.get("probes")),
        gate_args=tuple(gate_args),
        canary=reader.canary(doc.get("canary")),
        slos=slos,
    )


class _Reader(FieldReader):
    """Typed field access; every problem becomes a ConfigError naming the field."""

    error = ConfigError

    def text(self, doc: dict[str, Any], key: str, prefix: str = "") -> str:
        value = doc.get(key)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(prefix + key, f"is required, a non-empty string (got {value!r})")
        return value

    def integer(self, doc: dict[str, Any], key: str, prefix: str, low: int, high: int) -> int:
        value = doc.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(
                prefix + key, f"must be a whole number from {low} to {high}, got {value!r}"
            )
        return value

    def fraction(self, doc: dict[str, Any], key: str, prefix: str, default: float) -> float:
        value = doc.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 0.5:
            raise self.fail(prefix + key, f"must be a number in (0, 0.5), got {value!r}")
        return float(value)

    def duration(self, doc: dict[str, Any], key: str, prefix: str) -> timedelta:
        """'10m', '1h', or a number of seconds (fractions allowed: fast tests)."""
        value = doc.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return timedelta(seconds=value)
        try:
            return slo.parse_duration(value)
        except ValueError as error:
            raise self.fail(prefix + key, str(error)) from None

    def container(self, value: Any) -> Container:
        keys = {"memory", "cpu", "concurrency", "timeout", "min_instances", "max_instances"}
        doc = self.mapping(value, "container", keys | {"env"})
        p = "container."
        memory = self.text(doc, "memory", p)
        if not _MEMORY.match(memory):
            raise self.fail(p + "memory", f"must be like 512Mi or 2Gi, got {memory!r}")
        cpu = str(doc.get("cpu"))
        if cpu not in ("1", "2", "4", "6", "8"):
            raise self.fail(p + "cpu", f"must be 1, 2, 4, 6 or 8, got {doc.get('cpu')!r}")
        timeout_s = int(self.duration(doc, "timeout", p).total_seconds())
        if not 1 <= timeout_s <= MAX_TIMEOUT_S:
            raise self.fail(p + "timeout", f"must be from 1s to {MAX_TIMEOUT_S}s")
        low = self.integer(doc, "min_instances", p, 0, 1000)
        high = self.integer(doc, "max_instances", p, 1, 1000)
        if low > high:
            raise self.fail(p + "min_instances", "must not exceed max_instances")
        env = doc.get("env")
        if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
            raise self.fail(p + "env", "must map variable names to strings (quote numbers)")
        for name in REQUIRED_ENV:
            if name not in env:
                raise self.fail(f"{p}env.{name}", "is required")
        return Container(
            memory,
            cpu,
            self.integer(doc, "concurrency", p, 1, MAX_CONCURRENCY),
            timeout_s,
            low,
            high,
            dict(env),
        )

    def probes(self, value: Any) -> Probes:
        keys = {"startup_path", "liveness_path", "initial_delay", "timeout", "period"}
        doc = self.mapping(value, "probes", keys | {"failure_threshold"})
        p = "probes."
        paths = [self.text(doc, key, p) for key in ("startup_path", "liveness_path")]
        for key, path in zip(("startup_path", "liveness_path"), paths, strict=True):
            if not path.startswith("/"):
                raise self.fail(p + key, f"must be a path starting with /, got {path!r}")
        seconds = {
            k: int(self.duration(doc, k, p).total_seconds())
            for k in keys - {"startup_path", "liveness_path"}
        }
        if seconds["timeout"] > seconds["period"]:
            raise self.fail(p + "timeout", "must not exceed period")
        threshold = self.integer(doc, "failure_threshold", p, 1, 10)
        return Probes(
            *paths, seconds["initial_delay"], seconds["timeout"], seconds["period"], threshold
        )

    def canary(self, value: Any) -> Canary:
        keys = {"steps", "metric_delay", "poll", "not_enough_data_limit", "alpha", "beta"}
        doc = self.mapping(value, "canary", keys)
        p = "canary."
        items = doc.get("steps")
        if not isinstance(items, list) or not items:
            raise self.fail(p + "steps", "must be a non-empty list of {percent, min_duration}")
        steps = []
        for index, item in enumerate(items):
            field = f"{p}steps[{index}]"
            item = self.mapping(item, field, {"percent", "min_duration"})
            percent = self.integer(item, "percent", f"{field}.", 1, 100)
            if steps and percent <= steps[-1].percent:
                raise self.fail(f"{field}.percent", "must be larger than the step before")
            steps.append(Step(percent, self.duration(item, "min_duration", f"{field}.")))
        if steps[-1].percent != 100:
            raise self.fail(f"{p}steps[{len(steps) - 1}].percent", "the last step must be 100")
        return Canary(
            tuple(steps),
            self.duration(doc, "metric_delay", p) if "metric_delay" in doc else METRIC_DELAY,
            self.duration(doc, "poll", p),
            self.duration(doc, "not_enough_data_limit", p),
            self.fraction(doc, "alpha", p, DEFAULT_ALPHA),
            self.fraction(doc, "beta", p, DEFAULT_BETA),
        )
