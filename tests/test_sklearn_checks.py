"""scikit-learn's estimator checks over every fastnn estimator (check_estimator, via parametrize_with_checks).

Small max_iter keeps the suite fast; ConvergenceWarnings from those short fits
are expected and silenced. EXPECTED_FAILURES lists any check a configuration is
known to fail, with the reason (scikit-learn reports them as xfail).

scikit-learn's check_array_api_input only runs when SCIPY_ARRAY_API=1 was set before
SciPy was imported (it skips otherwise): conftest.py leaves those checks out of a run
without it, and test_array_api_checks_under_scipy_array_api runs them in a process
that sets it.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from fastnn.estimators import (
    ElasticNet,
    Lasso,
    LinearRegression,
    LogisticRegression,
    MLPClassifier,
    MLPRegressor,
    Ridge,
    SoftmaxRegression,
)

ESTIMATORS = [
    MLPClassifier(max_iter=30),
    MLPClassifier(solver="lbfgs", max_iter=30),
    MLPClassifier(solver="sgd", max_iter=60),
    MLPClassifier(solver="adamw", activation="gelu", dropout=0.1, max_iter=30),
    MLPClassifier(dtype=np.float32, max_iter=30),
    MLPRegressor(max_iter=30),
    MLPRegressor(solver="lbfgs", max_iter=30),
    MLPRegressor(solver="rmsprop", activation="elu", max_iter=30),
    LinearRegression(),
    LinearRegression(solver="gd"),
    Ridge(),
    Ridge(positive=True),
    Ridge(solver="sparse_cg"),
    Ridge(solver="lsqr"),
    Lasso(),
    ElasticNet(l1_ratio=0.3),
    LogisticRegression(),
    LogisticRegression(solver="gd"),
    LogisticRegression(solver="saga", l1_ratio=0.5),
    LogisticRegression(solver="newton-cg"),
    LogisticRegression(solver="newton-cholesky"),
    LogisticRegression(solver="liblinear"),
    LogisticRegression(solver="liblinear", l1_ratio=1.0),
    SoftmaxRegression(),
]

_SW_DROPOUT = ("dropout masks are drawn per batch position, so repeating a row (instead of weighting it) "
               "changes which units are dropped: the fits differ by design")
_SW_FLOAT32 = ("the check compares the two fits at rtol=1e-7, below float32 resolution (it trains in "
               "float32 by request; the difference found is ~3e-7)")

_LIBLINEAR_3_CLASSES = ("3+ classes get scikit-learn's own liblinear error (its LogisticRegression(solver="
                        "'liblinear') fails this check too), not the generic 'Only binary classification' text")
_SW_SAGA = ("SAGA (scikit-learn's, step for step) draws rows at random: repeating a row instead of weighting it "
            "changes the draws, and so the iterate it stops at (scikit-learn exempts its LogisticRegression too)")

_N_ITER_RIDGE = ("n_iter_ is None with this solver, as scikit-learn's Ridge's (scikit-learn exempts its Ridge "
                 "from this check for that reason)")
_N_ITER_OLS = ("no n_iter_, as scikit-learn's LinearRegression (which has no max_iter: fastnn's is solver='gd''s, "
               "which sets n_iter_)")
_N_ITER = "check_non_transformer_estimators_n_iter"

#: estimator configuration (repr) -> {check name: reason}; scikit-learn reports these as xfail
EXPECTED_FAILURES: dict[str, dict[str, str]] = {
    repr(ESTIMATORS[3]): {
        "check_sample_weight_equivalence_on_dense_data": _SW_DROPOUT,
        "check_sample_weight_equivalence_on_sparse_data": _SW_DROPOUT,
    },
    repr(ESTIMATORS[4]): {
        "check_sample_weight_equivalence_on_dense_data": _SW_FLOAT32,
        "check_sample_weight_equivalence_on_sparse_data": _SW_FLOAT32,
    },
    **{repr(est): {"check_classifier_not_supporting_multiclass": _LIBLINEAR_3_CLASSES}
       for est in ESTIMATORS if getattr(est, "solver", None) == "liblinear"},
    repr(LinearRegression()): {_N_ITER: _N_ITER_OLS},
    **{repr(est): {_N_ITER: _N_ITER_RIDGE} for est in (Ridge(), Ridge(positive=True), Ridge(solver="sparse_cg"))},
    repr(LogisticRegression(solver="saga", l1_ratio=0.5)): {
        "check_sample_weight_equivalence_on_dense_data": _SW_SAGA,
        "check_sample_weight_equivalence_on_sparse_data": _SW_SAGA,
    },
}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILURES.get(repr(estimator), {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


#: the checks that need SCIPY_ARRAY_API=1 in the environment before SciPy is imported
ARRAY_API_CHECK = "check_array_api_input"


def test_array_api_checks_under_scipy_array_api():
    """scikit-learn's array-API checks of every configuration above, in a process with SCIPY_ARRAY_API=1
    (in this one they would only skip): every one must run and pass."""
    env = dict(os.environ, SCIPY_ARRAY_API="1")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", __file__,
                           "-k", ARRAY_API_CHECK], env=env, capture_output=True, text=True, timeout=600)
    tail = done.stdout[-2000:] + done.stderr[-2000:]
    assert done.returncode == 0, tail
    summary = done.stdout.strip().splitlines()[-1]
    passed = re.search(r"(\d+) passed", summary)
    assert passed and int(passed.group(1)) >= len(ESTIMATORS), tail
    assert not re.search(r"skipped|xfail|failed|error", summary), tail
