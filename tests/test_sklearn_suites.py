"""scikit-learn's own tests of the estimators fastnn stands in for, run on fastnn's.

The drop-in promise is that changing ``from sklearn.neural_network import
MLPClassifier`` to ``from fastnn.estimators import MLPClassifier`` keeps a user's
code working. The strongest check of it is scikit-learn's own test module for
those estimators, run with the import swapped (tests/sklearn_swap_plugin.py) in
a separate pytest process. Every one of its tests must pass, except those listed
in the suite's ``expected``: each entry names the test (``"*"``: any), a regular
expression its failure message must match, and why fastnn differs. A failure
no entry explains fails this test, and so does an entry nothing matched any
more (the list stays exact).
"""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import pytest

import fastnn
from sklearn_swap_plugin import ENV


@dataclass(frozen=True)
class Suite:
    module: str                     # scikit-learn's test module
    swap: Dict[str, Tuple[str, ...]]  # package -> the names replaced by fastnn.estimators'
    #: (test name or "*", failure-message regex, reason)
    expected: Tuple[Tuple[str, str, str], ...] = field(default=())
    env: Dict[str, str] = field(default_factory=dict)  # e.g. the backend the estimators use
    #: a pytest -k expression: leaves out slow tests that never touch the swapped classes
    select: str = ""

    @property
    def id(self) -> str:
        name = self.module.rsplit(".", 1)[-1]
        return "-".join([name] + [f"{k}={v}" for k, v in self.env.items()])


def _did_not_raise(exc: str) -> str:
    """pytest.raises' failure for `exc`: "DID NOT RAISE <class 'ValueError'>" before
    pytest 9.2, "DID NOT RAISE ValueError" since (CI installs the newest pytest)."""
    return rf"DID NOT RAISE (<class ')?{exc}\b"


#: fastnn's solvers that need more than X's products densify sparse X (fastnn/estimators/linear.py's
#: module doc): every option works on it
_DENSIFIED = "fastnn densifies sparse X, so this option fits it (correctly) where scikit-learn refuses sparse input"

_MLP = ("sklearn.neural_network.tests.test_mlp", {"sklearn.neural_network": ("MLPClassifier", "MLPRegressor")})

SUITES = [
    Suite(*_MLP),  # the default backend: C, on this CPU's ISA path
    # the estimators on every other kernel path: the portable C, Numba, the NumPy reference
    Suite(*_MLP, env={"FASTNN_ISA": "generic"}),
    Suite(*_MLP, env={"FASTNN_BACKEND": "numba"}),
    Suite(*_MLP, env={"FASTNN_BACKEND": "numpy"}),
    Suite("sklearn.linear_model.tests.test_logistic",
          {"sklearn.linear_model": ("LogisticRegression",)},
          expected=(
              ("test_large_sparse_matrix", _did_not_raise("ValueError"),
               "fastnn's sag / saga take a CSR X with 64-bit indices (checked and converted to 32-bit) and fit it "
               "(correctly) where scikit-learn's refuse it"),
              ("test_logistic_cv_multinomial_score", r"_log_reg_scoring_path\(\) got an unexpected keyword "
                                                     r"argument 'backend'",
               "calls scikit-learn's private _log_reg_scoring_path with LogisticRegression().get_params(), "
               "which has fastnn's backend parameter"),
              ("test_logreg_predict_proba_multinomial", "object has no attribute '_predict_proba_lr'",
               "scikit-learn's private one-vs-rest probabilities (LinearClassifierMixin._predict_proba_lr)"),
              ("test_logistic_cv", r"Arrays are not almost equal to 6 decimals",
               "compares LogisticRegression(solver='liblinear') with scikit-learn's LogisticRegressionCV (its "
               "liblinear) at the default tol to 1e-6: only liblinear's own iterates meet that; both fits are "
               "1e-5 from the optimum (fastnn's liblinear is Newton on the same objective, not liblinear's)"),
              ("test_logreg_l1", r"Not equal to tolerance rtol=1e-07",
               "compares liblinear L1 fits of a dense and a sparse X to 1e-7 relative at tol=1e-10: scikit-learn's "
               "liblinear converts both to one format, fastnn solves their models by two solvers (a Lasso per "
               "Newton step on a dense X, newGLMNET's coordinate descent on a sparse one); measured: dense 0 (to "
               "rounding), sparse 1.0e-8, scikit-learn's 1.2e-9 from the optimum (coefficients of 0.001-1)"),
              ("test_liblinear_dual_random_state", _did_not_raise("AssertionError"),
               "expects dual=True fits to differ with random_state (liblinear's randomised dual coordinate "
               "descent); fastnn's solves the primal deterministically: the same optimum for every random_state"),
          ),
          # ~50 s of tests of LogisticRegressionCV and the private path functions that never
          # build a LogisticRegression (no reference to it in their bodies or parameters)
          select="not (test_logistic_regression_path_convergence_fail or test_logistic_cv_refit_false_non_elasticnet "
                 "or test_logistic_cv_mock_scorer or test_logistic_cv_sparse or test_logistic_regressioncv_class_weights "
                 "or test_LogisticRegressionCV_no_refit or test_LogisticRegressionCV_elasticnet_attribute_shapes "
                 "or test_logistic_regression_path_coefs_multinomial or test_logistic_regression_path_init_coefs "
                 "or test_lr_cv_scores_differ_when_sample_weight_is_requested "
                 "or test_lr_cv_scores_without_enabling_metadata_routing "
                 "or test_passing_params_without_enabling_metadata_routing "
                 "or test_logisticregressioncv_warns_with_use_legacy_attributes or test_lr_scoring_warns "
                 "or test_get_default_scorer)"),
    Suite("sklearn.linear_model.tests.test_sag",
          {"sklearn.linear_model": ("LogisticRegression", "Ridge")}),
    Suite("sklearn.linear_model.tests.test_base",
          {"sklearn.linear_model": ("LinearRegression",)}),
    Suite("sklearn.linear_model.tests.test_coordinate_descent",
          {"sklearn.linear_model": ("Lasso", "ElasticNet")},
          expected=(("test_check_input_false", _did_not_raise("ValueError"),
                     "scikit-learn's solver needs a Fortran X under check_input=False and raises for a C-ordered "
                     "one; fastnn's validates anyway and solves any layout"),)),
    # Lasso / ElasticNet on sparse X: kernels.enet_cd_sparse, scikit-learn's sparse solver
    Suite("sklearn.linear_model.tests.test_sparse_coordinate_descent",
          {"sklearn.linear_model": ("Lasso", "ElasticNet")}),
    Suite("sklearn.linear_model.tests.test_ridge",
          {"sklearn.linear_model": ("Ridge",)},
          expected=(("test_ridge_fit_intercept_sparse_error", _did_not_raise("ValueError"), _DENSIFIED),),
          # ~25 s of tests of scikit-learn's private _solve_lbfgs and _RidgeGCV, which never build a Ridge
          select="not (test_lbfgs_solver_consistency or test_ridge_gcv_vs_ridge_loo_cv "
                 "or test_regularization_limits_ridge_gcv or test_regularization_limits_ridge_classifier_gcv)"),
]


@dataclass
class Outcome:
    name: str     # e.g. test_fit[X0-y0]
    status: str   # passed, failed, skipped
    message: str

    @property
    def base(self) -> str:
        return self.name.split("[", 1)[0]


def _run(suite: Suite, tmp_path) -> List[Outcome]:
    report = tmp_path / "report.xml"
    here = os.path.dirname(os.path.abspath(__file__))
    fastnn_home = os.path.dirname(os.path.dirname(os.path.abspath(fastnn.__file__)))  # the fastnn under test
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [here, fastnn_home, env.get("PYTHONPATH")]))
    env.update(suite.env)
    env[ENV] = ";".join(f"{pkg}:{','.join(names)}" for pkg, names in suite.swap.items())
    # native tracebacks: pytest's own cost ~0.1 s a failure here (hundreds of expected ones)
    cmd = [sys.executable, "-m", "pytest", "-p", "sklearn_swap_plugin", "-p", "no:cacheprovider", "-q", "--tb=native",
           f"--junitxml={report}", "--pyargs", suite.module] + (["-k", suite.select] if suite.select else [])
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode not in (0, 1) or not report.exists():  # 1: some tests failed
        pytest.fail(f"pytest on {suite.module} exited {done.returncode}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    outcomes = []
    for case in ET.parse(report).getroot().iter("testcase"):
        status, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                status, message = "failed", (child.get("message") or "") + "\n" + (child.text or "")
            elif child.tag == "skipped":
                status, message = "skipped", child.get("message") or ""
        outcomes.append(Outcome(case.get("name"), status, message))
    return outcomes


@pytest.mark.slow
@pytest.mark.parametrize("suite", SUITES, ids=lambda s: s.id)
def test_sklearn_suite_passes_on_fastnn(suite, tmp_path):
    if importlib.util.find_spec(suite.module) is None:
        pytest.fail(f"{suite.module} is not installed: scikit-learn's wheels ship their tests")
    outcomes = _run(suite, tmp_path)
    assert sum(o.status == "passed" for o in outcomes) > 0, "no test of the suite passed"
    used = set()
    unexplained = []
    for o in outcomes:
        if o.status != "failed":
            continue
        hits = [i for i, (name, pattern, _) in enumerate(suite.expected)
                if name in ("*", o.base) and re.search(pattern, o.message)]
        if hits:
            used.add(hits[0])
        else:
            unexplained.append(f"{o.name}: {o.message.strip()[:400]}")
    stale = [entry for i, entry in enumerate(suite.expected) if i not in used]
    assert not unexplained, f"{len(unexplained)} unexpected failures:\n" + "\n".join(unexplained)
    assert not stale, f"expected failures that no longer happen (remove them): {stale}"
