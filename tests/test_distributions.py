"""erbbscreen.distributions equals scipy.stats bit for bit (the stages use it to avoid scipy.stats' import)."""
import numpy as np
from scipy import stats

from erbbscreen import distributions as dist

RNG = np.random.default_rng(7)


def test_binom_sf_equals_scipy_stats_including_out_of_support_counts():
    n = RNG.integers(1, 20000, 5000)
    k = (RNG.random(5000) * (n + 4)).astype(int) - 2  # -2 .. n + 1: below, inside and above the support
    p = RNG.random(5000)
    p[:50] = 0.0
    p[50:100] = 1.0
    assert np.array_equal(dist.binom_sf(k, n, p), stats.binom.sf(k, n, p))
    assert dist.binom_sf(3, 100, 0.02) == float(stats.binom.sf(3, 100, 0.02))
    assert isinstance(dist.binom_sf(3, 100, 0.02), float)
    grid = np.linspace(0.0005, 0.5, 1000)  # purity's LoD grid: one count, one depth, many fractions
    assert np.array_equal(dist.binom_sf(4, 350, grid), stats.binom.sf(4, 350, grid))


def test_binom_logpmf_equals_scipy_stats_on_the_allele_count_grid():
    n = RNG.integers(20, 3000, 400).astype(float)
    k = np.floor(RNG.random(400) * (n + 1))
    b = np.clip(np.linspace(0.0, 0.5, 201), 1e-4, 0.5)[:, None]  # purity.snps.mirrored_baf's grid
    assert np.array_equal(dist.binom_logpmf(k[None, :], n[None, :], b), stats.binom.logpmf(k[None, :], n[None, :], b))
    assert np.array_equal(dist.binom_logpmf(k[None, :], n[None, :], 1 - b),
                          stats.binom.logpmf(k[None, :], n[None, :], 1 - b))


def test_chi2_sf_and_beta_ppf_equal_scipy_stats():
    x = np.concatenate([[0.0, -1.0, 1e-12], RNG.random(3000) * 60])
    assert np.array_equal(dist.chi2_sf(x, 1), stats.chi2.sf(x, 1))
    assert dist.chi2_sf(3.2, 1) == float(stats.chi2.sf(3.2, 1))
    q = np.concatenate([[0.0, 1.0, 0.025, 0.975], RNG.random(3000)])
    a = RNG.integers(1, 400, q.size).astype(float)
    b = RNG.integers(1, 6000, q.size).astype(float)
    assert np.array_equal(dist.beta_ppf(q, a, b), stats.beta.ppf(q, a, b))
