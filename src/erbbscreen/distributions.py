"""The few scipy.stats distribution functions the stages use, computed with ``scipy.special`` only.

Why: ``import scipy.stats`` costs ~0.6 s of CPU in every job that touches it (``python -X importtime``), and the
purity and hotspot-calling batch jobs only ever need four functions from it, on a workflow that is CPU-bound on a
2-core machine (README "Performance", issue #10). Each function below is the computation scipy.stats itself does
(scipy 1.17, ``scipy/stats/_discrete_distns.py``, ``_continuous_distns.py`` and the generic wrappers of
``_distn_infrastructure.py`` for out-of-support arguments), so the values are the same floats:
tests/test_distributions.py compares them bit for bit with scipy.stats over grids of arguments.
"""
from __future__ import annotations

import numpy as np
from scipy import special

#: scipy.stats.binom.sf's own kernel (Boost's binomial survival function). ``scipy.special.bdtrc`` is a different
#: (Cephes) implementation that differs in the last digits, so the kernel scipy.stats calls is used; it is private,
#: hence the fallback to scipy.stats itself should a scipy release move it (the pinned env has it; the test checks).
_BINOM_SF = getattr(getattr(special, "_ufuncs", None), "_binom_sf", None)


def binom_sf(k, n, p):
    """``scipy.stats.binom.sf(k, n, p)``: P(X > k) for X ~ Bin(n, p); 1 for k < 0, 0 for k >= n."""
    if _BINOM_SF is None:  # pragma: no cover - only on a scipy without the kernel
        from scipy import stats

        return stats.binom.sf(k, n, p)
    k, n, p = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (k, n, p)))
    out = np.where(k < 0, 1.0, 0.0)
    inside = (k >= 0) & (k < n)
    if inside.any():
        out[inside] = np.clip(_BINOM_SF(np.floor(k[inside]), n[inside], p[inside]), 0, 1)
    return out if out.ndim else float(out)


def binom_logpmf(k, n, p):
    """``scipy.stats.binom.logpmf(k, n, p)`` for integer counts 0 <= k <= n (the only ones the callers pass):
    scipy's own expression, log C(n, k) + k log p + (n - k) log(1 - p)."""
    k, n, p = (np.asarray(x, dtype=float) for x in (k, n, p))
    combiln = special.gammaln(n + 1) - (special.gammaln(k + 1) + special.gammaln(n - k + 1))
    return combiln + special.xlogy(k, p) + special.xlog1py(n - k, -p)


def chi2_sf(x, df):
    """``scipy.stats.chi2.sf(x, df)`` (scipy's kernel is ``special.chdtrc``; 1 at x <= 0)."""
    x = np.asarray(x, dtype=float)
    out = np.where(x <= 0, 1.0, special.chdtrc(df, np.maximum(x, 0.0)))
    return out if out.ndim else float(out)


def beta_ppf(q, a, b):
    """``scipy.stats.beta.ppf(q, a, b)`` for 0 <= q <= 1 (scipy's kernel, Boost's ibeta_inv, is
    ``special.betaincinv``)."""
    return special.betaincinv(a, b, q)
