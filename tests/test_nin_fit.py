"""Exponential fits recover known time-scales from synthetic data."""

import numpy as np
import pytest

from lab.fit import fit_exponential


@pytest.mark.parametrize("tau,offset", [(7.5, 0.3), (40.0, 0.0), (0.8, 1.0)])
def test_fit_recovers_tau_with_offset(tau, offset):
    rng = np.random.default_rng(0)
    t = np.arange(0, 120, dtype=float)
    y = 2.0 * np.exp(-t / tau) + offset + rng.normal(0, 0.01, t.size)
    f = fit_exponential(t, y)
    assert f.tau == pytest.approx(tau, rel=0.05)
    assert f.offset == pytest.approx(offset, abs=0.02)
    assert f.amplitude == pytest.approx(2.0, rel=0.05)
    assert f.r2 > 0.99 and f.ok and f.n == 120


def test_fit_without_offset_and_in_a_range():
    t = np.linspace(0, 50, 101)
    y = 5 * np.exp(-t / 12.0)
    y[:10] = 100.0  # a transient the range leaves out
    f = fit_exponential(t, y, offset=False, t_range=(5.0, 50.0))
    assert f.tau == pytest.approx(12.0, rel=1e-4) and f.offset == 0.0
    assert (f.t_min, f.t_max) == (5.0, 50.0) and f.n == 91


def test_fit_of_noise_is_flagged():
    rng = np.random.default_rng(1)
    t = np.arange(50.0)
    f = fit_exponential(t, rng.normal(1.0, 0.1, t.size))
    assert not f.ok
    assert not fit_exponential([0.0, 1.0], [1.0, 0.5]).ok  # too few points


def test_a_fit_range_that_starts_late_keeps_the_amplitude_at_time_zero():
    # t_min / tau on the search grid reaches 1000: A = A(t_min) exp(t_min/tau) must not overflow
    t = np.arange(0.0, 121.0)
    y = 3.0 * np.exp(-t / 10.0) + 0.5
    f = fit_exponential(t, y, t_range=(100.0, 120.0))
    assert f.tau == pytest.approx(10.0, rel=1e-3) and f.offset == pytest.approx(0.5, abs=1e-6)
    assert f.amplitude == pytest.approx(3.0, rel=1e-2) and f.ok
    np.testing.assert_allclose(f.curve(t[100:]), y[100:], rtol=1e-6)
