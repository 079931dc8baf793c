"""scikit-learn's private L-BFGS helpers, with fallbacks for versions that lack them.

The MLP and the linear models run scipy's L-BFGS-B exactly as scikit-learn does;
these two helpers are where scikit-learn keeps the version-dependent details.
Ridge's sparse_cg calls scipy's cg through scikit-learn's wrapper for the same reason
(scipy < 1.12 names cg's ``rtol`` ``tol``).
The callbacks API (scikit-learn 1.9+) that its LogisticRegression's L-BFGS calls
is imported here too, with an empty stand-in for older versions.
"""
from __future__ import annotations

import warnings

from sklearn.exceptions import ConvergenceWarning

try:  # scipy-version shim scikit-learn uses for L-BFGS-B's iprint / disp
    from sklearn.utils.fixes import _get_additional_lbfgs_options_dict
except ImportError:  # pragma: no cover
    def _get_additional_lbfgs_options_dict(key, value):
        return {key: value}

try:
    from sklearn.utils.optimize import _check_optimize_result
except ImportError:  # pragma: no cover
    def _check_optimize_result(solver, result, max_iter=None, extra_warning_msg=None):
        if result.status != 0:
            warnings.warn(f"{solver} failed to converge: {result.message}", ConvergenceWarning, stacklevel=2)
        return min(result.nit, max_iter) if max_iter is not None else result.nit


try:  # the advice scikit-learn's LogisticRegression appends to its lbfgs ConvergenceWarning
    from sklearn.linear_model._logistic import _LOGISTIC_SOLVER_CONVERGENCE_MSG
except ImportError:  # pragma: no cover
    _LOGISTIC_SOLVER_CONVERGENCE_MSG = None


try:
    from sklearn.utils.fixes import _sparse_linalg_cg
except ImportError:  # pragma: no cover -- scikit-learn dropped it with scipy < 1.12
    from scipy.sparse.linalg import cg as _sparse_linalg_cg  # noqa: F401  (re-exported)


try:
    from sklearn.callback import CallbackSupportMixin
except ImportError:  # pragma: no cover -- scikit-learn < 1.9: no callbacks, as scikit-learn's own
    class CallbackSupportMixin:
        pass
