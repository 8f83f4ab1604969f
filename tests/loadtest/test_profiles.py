"""Load profiles as data: the share of the peak at each moment, and their averages."""

import pytest

from loadtest.profiles import PROFILES, Profile, Stage


def test_the_named_shapes_exist():
    assert set(PROFILES) == {"smoke", "ramp", "step", "spike", "soak"}


def test_ramp_rises_linearly_then_holds():
    ramp = PROFILES["ramp"]
    assert ramp.level(0, 60) == 0.0
    assert ramp.level(7.5, 60) == pytest.approx(0.5)  # halfway through the first quarter
    assert ramp.level(15, 60) == 1.0
    assert ramp.level(59.9, 60) == 1.0
    assert ramp.level(60, 60) is None  # over
    assert ramp.mean_level() == pytest.approx(0.875)  # 0.25 x 0.5 + 0.75 x 1


def test_step_climbs_in_quarters():
    step = PROFILES["step"]
    assert [step.level(t, 80) for t in (0, 19.9, 20, 40, 79)] == [0.25, 0.25, 0.5, 0.75, 1.0]
    assert step.mean_level() == pytest.approx(0.625)


def test_spike_jumps_and_falls_back():
    spike = PROFILES["spike"]
    assert [spike.level(t, 100) for t in (10, 45, 70)] == [0.2, 1.0, 0.2]
    assert spike.mean_level() == pytest.approx(0.36)  # 0.8 x 0.2 + 0.2 x 1


def test_default_durations():
    assert PROFILES["soak"].default_duration_s == 1800
    assert PROFILES["smoke"].default_duration_s == 30


def test_a_custom_profile_ramps_down():
    down = Profile("down", "", 10, (Stage(0.5, 1.0), Stage(1.0, 0.0, ramp=True)))
    assert down.level(7.5, 10) == pytest.approx(0.5)
    assert down.mean_level() == pytest.approx(0.75)
