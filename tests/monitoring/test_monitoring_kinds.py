"""Each kind of object is declared once, in its own module of monitoring/kinds/; the registry
finds them all, in the order they must be created."""

from __future__ import annotations

import pkgutil

from monitoring import kinds
from monitoring.config import PACKAGE_DIR, load_config


def test_every_module_declares_one_kind_and_the_registry_finds_it_in_creation_order():
    modules = {m.name for m in pkgutil.iter_modules(kinds.__path__)} - {"base"}
    assert len(kinds.ALL) == len(modules) == 6
    assert [kind.value for kind in kinds.ALL] == [
        "log-metric",
        "service",
        "slo",
        "uptime-check",
        "alert-policy",
        "dashboard",
    ]
    for kind in kinds.ALL:
        assert callable(kind.lister) and callable(kind.creator)
        assert callable(kind.updater) and callable(kind.deleter)
        assert kind.message_type.pb().DESCRIPTOR.full_name.startswith("google.")


def test_the_definitions_are_read_from_each_kind_s_own_source():
    config, errors = load_config(PACKAGE_DIR)
    assert errors == [] and config is not None
    with_source = [kind for kind in kinds.ALL if kind.source is not None]
    assert list(config.items) == with_source
    counts = {kind.value: len(items) for kind, items in config.items.items()}
    assert counts == {"log-metric": 6, "uptime-check": 1, "alert-policy": 6, "dashboard": 2}


def test_identity_ignores_the_project_form_of_a_name():
    number, project = "projects/123456789012", "projects/fashion-serve-staging"
    slo = "services/prediction-service/serviceLevelObjectives/latency"
    assert kinds.SLO.own_id(f"{number}/{slo}") == kinds.SLO.own_id(f"{project}/{slo}")
    assert kinds.SLO.own_id(f"{number}/{slo}") == "prediction-service/latency"
    assert kinds.SERVICE.own_id(f"{number}/services/prediction-service") == "prediction-service"
