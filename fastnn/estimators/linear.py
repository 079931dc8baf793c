"""Linear models with scikit-learn's estimator API, built on fastnn's kernels.

=====================  ==============================  ===========================================
fastnn                 scikit-learn counterpart        solvers
=====================  ==============================  ===========================================
LinearRegression       linear_model.LinearRegression   "lstsq" (scipy.linalg.lstsq, as sklearn;
                                                        nnls for positive=True; on sparse X
                                                        scipy's lsqr, as sklearn: X stays sparse),
                                                        "gd"
Ridge                  linear_model.Ridge              "auto"/"cholesky" (normal equations, or
                                                        the kernel form for wide X), "svd", "gd";
                                                        "sparse_cg", "lsqr" (scipy's cg / lsqr on
                                                        X's products, as sklearn: sparse X stays
                                                        sparse, "auto" on it is "sparse_cg");
                                                        "sag"/"saga" (kernels.sag: sklearn's SAG /
                                                        SAGA step for step); positive=True:
                                                        "lbfgs" (L-BFGS-B, as sklearn)
Lasso, ElasticNet      linear_model.Lasso, ElasticNet  coordinate descent (kernels.enet_cd:
                                                        scikit-learn's solver, step for step; on
                                                        sparse X kernels.enet_cd_sparse, its
                                                        sparse solver: X stays sparse)
LogisticRegression     linear_model.LogisticRegression "lbfgs" (scipy L-BFGS-B, sklearn's options;
                                                        sparse X stays sparse), "newton-cg",
                                                        "newton-cholesky" (sklearn's Newton drivers
                                                        on fastnn's Hessian), "liblinear" (its
                                                        objective, intercept penalised: Newton /
                                                        proximal Newton), "sag" / "saga"
                                                        (kernels.sag, step for step; saga: L1,
                                                        elastic-net), "gd" (proximal FISTA,
                                                        every penalty);
                                                        binary = sigmoid, multiclass = softmax
SoftmaxRegression      (none; multinomial LR)          as LogisticRegression, always softmax
=====================  ==============================  ===========================================

Objectives are scikit-learn's, so solutions agree with sklearn's to the solvers'
tolerances. Measured max relative coef_ difference vs scikit-learn 1.9: OLS and
Ridge closed forms 0 .. 3e-15 (with sample weights too); Ridge/OLS "gd" 2e-10 /
1e-8 at tol 1e-10 / 1e-12; Ridge "sparse_cg" / "lsqr" 5e-14 at the default tol, 2e-11
at tol=1e-10 (the same iterates, up to rounding: dense, CSR, CSC, weights, per-target
alpha; float32 6e-7 / 1e-6); Lasso 1e-16 .. 1e-15 at any tol (the same coordinate
descent: same sweeps, same zeros, same duality gap), on sparse X 0 .. 2e-14 (intercept,
weights, positive, random selection; the same n_iter_; float32 2e-6);
binary logistic 2e-11 at tol=1e-10 and 4e-15 at the defaults (the same L-BFGS-B
iterates); multinomial 1e-6 at tol=1e-10 (unscaled iris, ill-conditioned);
C=100 (a flat optimum) 1e-5; "sag" / "saga" (Ridge and logistic, L2, L1 and
elastic-net, any tol, with random_state fixed) the same n_iter_ and coef_ to the
last bit in float64 and float32 on dense data (the same draws and arithmetic;
the same exact zeros), Ridge with sample weights and an intercept 1e-15 (float32:
3e-7, the weighted centring rounds differently), and on sparse X, which they take as
CSR (scikit-learn's lazy updates of a row's non-zeros, never densified), the same
(float32 Ridge with weights and its own intercept 3e-7); "gd" against lbfgs's / saga's
optimum 1e-9 .. 1e-7 at tol=1e-10;
newton-cg / newton-cholesky 1e-15 .. 1e-12 (the same iterates and n_iter_);
liblinear (L2 and L1) 1e-6 at tol=1e-10 (liblinear's own fit is only tol-accurate). On sparse X
(CSR, CSC, COO): "lbfgs" 5e-15 .. 5e-10 at tol=1e-10 (binary, multinomial, weights,
class_weight, no intercept; float32 X 3e-5 .. 1e-3 from scikit-learn's float32 fit, as on
dense X); LinearRegression's lsqr 0 .. 4e-16 at tol=1e-10 (weights, several targets; float32 2e-7).
The objectives: LinearRegression ``||y - Xw - b||^2``; Ridge
``||y - Xw - b||^2 + alpha ||w||^2``; Lasso ``||y - Xw - b||^2 / (2 n) + alpha
||w||_1``; logistic ``sum(sw_i loss_i) / sum(sw) + ((1 - r) ||W||^2 / 2 + r ||W||_1)
/ (C sum(sw))`` with r = l1_ratio, > 0 with "saga" / "gd" (intercepts unpenalised; liblinear
adds ``intercept / intercept_scaling`` to W's penalty).
Sample weights are supported everywhere (non-negative ones
in the least-squares models and solver "gd", which scale rows by their square roots, and in liblinear).
Ridge's direct solvers, "sparse_cg", "lsqr", "sag" / "saga", Lasso and ElasticNet (and LinearRegression on
sparse X) work in X's float dtype (float32 in float32, as scikit-learn); the other solvers in float64, with
``coef_`` in X's dtype. Ridge's "sparse_cg" and "lsqr" (and so "auto" on sparse X), LinearRegression
("lstsq": scikit-learn's lsqr there), Lasso and ElasticNet (kernels.enet_cd_sparse on X as CSC)
fit a sparse X as it is, centred implicitly (as scikit-learn's);
LogisticRegression / SoftmaxRegression "lbfgs" take its products with scipy.sparse (CSR, float64), the
loss kernels on the dense scores (as do "newton-cg", "newton-cholesky" and "liblinear", whose L1
models kernels.l1_quadratic_cd solves on X as CSC); Ridge and LogisticRegression "sag" / "saga" solve on it as CSR
(kernels.sag; Ridge "saga" refuses an intercept on sparse X, as scikit-learn's, and "sag" fits one only
with max_iter=None and tol > 1e-4, else "sparse_cg"); the other solvers densify sparse input (they are meant for dense
data; LinearRegression(positive=True) refuses it with scikit-learn's TypeError); one whose dense
copy would exceed ``SPARSE_DENSIFY_MAX_BYTES`` (1 GiB, in fastnn.estimators._linear_base) is refused with a
ValueError that points to the sparse solvers, rather than allocated. ``predict`` (and
decision_function / predict_proba) take a sparse X's products as it is.

The gradient-based solvers evaluate the model and its gradient with
``kernels.dense_forward`` / ``kernels.dense_backward`` and the fused loss
kernels; Lasso's coordinate descent is ``kernels.enet_cd`` (``kernels.enet_cd_sparse`` on sparse X) and SAG / SAGA
``kernels.sag`` (C, Numba or NumPy, like every kernel; fastnn.estimators._sag is
scikit-learn's sag_solver around it); the closed forms call LAPACK through SciPy, the well-kept
solver for that job, and "sparse_cg" / "lsqr" SciPy's cg / lsqr on a LinearOperator
(scipy.sparse products; a big tall dense X's, or on several threads any X of a few MiB, from
kernels.gemm, see _ridge._dense_operator), their vector work on one BLAS thread.

One module per model (_linear_regression, _ridge, _elastic_net, _logistic) over
the shared plumbing in _linear_base (and _sag, the "sag" / "saga" driver); this
module is the family's public face.
"""
from ._elastic_net import ElasticNet, Lasso
from ._linear_regression import LinearRegression
from ._logistic import LogisticRegression, SoftmaxRegression
from ._ridge import Ridge

__all__ = ["LinearRegression", "Ridge", "Lasso", "ElasticNet", "LogisticRegression", "SoftmaxRegression"]
