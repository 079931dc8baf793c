"""Input checks shared by the estimators."""
from __future__ import annotations

from typing import Optional

import numpy as np
import scipy.sparse as sp

from ..kernels import finite_as

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


#: scikit-learn's check_array(dtype="numeric") message for text, word for word
_TEXT_MESSAGE = ("dtype='numeric' is not compatible with arrays of bytes/strings."
                 "Convert your data to numeric values explicitly instead.")


def refuse_text(X) -> None:
    """scikit-learn's ValueError for an array (or list) of strings or bytes where it checks
    with dtype="numeric" (every predict, LinearRegression.fit): a float dtype list there
    would parse the text as numbers instead."""
    kind = getattr(getattr(X, "dtype", None), "kind", None)
    if kind is None and isinstance(X, (list, tuple)):
        kind = np.asarray(X).dtype.kind
    if kind in ("S", "U"):
        raise ValueError(_TEXT_MESSAGE)


def validated_rows(est, X) -> Optional[np.ndarray]:
    """X when it is already what ``validate_data(est, X, reset=False)`` returns, else None.

    That is a finite 2-D float32/float64 ndarray with the fitted number of columns,
    and an estimator fitted without feature names (a DataFrame's names are
    compared by scikit-learn's check). scikit-learn's checks cost ~60 us a call,
    more than predicting or training on a small batch; any other input goes
    through them, so errors and warnings stay scikit-learn's own.
    """
    if (type(X) is not np.ndarray or X.ndim != 2 or X.dtype not in _FLOAT_DTYPES or X.shape[0] == 0
            or X.shape[1] != getattr(est, "n_features_in_", None) or hasattr(est, "feature_names_in_")):
        return None
    # one sum instead of an isfinite pass: NaN and inf propagate into it (an
    # overflowing sum of finite values only sends X the slow way)
    return X if np.isfinite(X.sum()) else None


def validated_weights(sample_weight, n: int) -> Optional[np.ndarray]:
    """sample_weight when it is already what scikit-learn's ``_check_sample_weight``
    returns for ``n`` rows (the same array), else None.

    That is a finite, not all-zero, C-contiguous 1-D float32/float64 ndarray of
    length n; the check costs ~80 us a call. Anything else goes through it, with
    its errors.
    """
    sw = sample_weight
    if (type(sw) is not np.ndarray or sw.dtype not in _FLOAT_DTYPES or sw.shape != (n,)
            or not sw.flags.c_contiguous):
        return None
    return sw if np.isfinite(sw).all() and sw.any() else None


def as_training_dtype(name: str, given, dtype):
    """`given` (validated finite; dense, or a sparse matrix, whose format is kept) in the
    training dtype, dense in C order. A clear ValueError if the cast turned values beyond
    float32's range into infinities."""
    if not sp.issparse(given):
        return given if given.dtype == dtype and given.flags.c_contiguous else finite_as(name, given, dtype)
    if given.dtype != dtype:
        finite_as(name, given.data, dtype)  # the check only: astype below casts the same values
    return given.astype(dtype)
