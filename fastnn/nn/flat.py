"""The flat parameter layout shared by the Python loop and the native epoch.

For an MLP with sizes [d0, d1, ..., dL] (L dense layers) one flat buffer holds

    concat(W_0.ravel(), ..., W_{L-1}.ravel(), b_0, ..., b_{L-1})

with W_l of shape [d_l, d_{l+1}] (x @ W) in C order and b_l of shape [d_{l+1}].
All weights come first so that penalties (L2, L1, weight decay) apply to the
single slice ``buf[:n_weights]`` and an optimizer step is two fused kernel calls.
Gradients and every optimizer state row use the same layout (the native epoch's
contract: csrc/fastnn.h, fnn_train_epoch_*).
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np

__all__ = ["FlatLayout"]


class FlatLayout:
    """Offsets of each layer's weights and biases inside one flat buffer.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths [d0, d1, ..., dL], at least two, all >= 1.
    """

    def __init__(self, sizes: Sequence[int]):
        if isinstance(sizes, (str, bytes)) or not np.iterable(sizes):  # "64,10" iterates as characters
            raise TypeError(f"sizes must be a sequence of ints (layer widths), got {sizes!r}")
        if any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) for s in sizes):
            # int() would truncate a width of 4.7 to 4 (and make True a width of 1)
            raise ValueError(f"sizes must be ints, got {list(sizes)}")
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2:
            raise ValueError(f"sizes must list at least an input and an output width, got {sizes}")
        if any(s < 1 for s in sizes):
            raise ValueError(f"sizes must all be >= 1, got {sizes}")
        self.sizes: Tuple[int, ...] = tuple(sizes)
        self.shapes: Tuple[Tuple[int, int], ...] = tuple(zip(sizes[:-1], sizes[1:]))
        w_off, off = [], 0
        for i, o in self.shapes:
            w_off.append(off)
            off += i * o
        self.n_weights: int = off
        b_off = []
        for _, o in self.shapes:
            b_off.append(off)
            off += o
        self.n_biases: int = off - self.n_weights
        self.size: int = off
        self.weight_offsets: Tuple[int, ...] = tuple(w_off)
        self.bias_offsets: Tuple[int, ...] = tuple(b_off)

    @property
    def n_layers(self) -> int:
        """Number of dense layers L."""
        return len(self.shapes)

    def _check(self, buf: np.ndarray) -> np.ndarray:
        if not isinstance(buf, np.ndarray) or buf.ndim != 1 or buf.shape[0] != self.size:
            shape = getattr(buf, "shape", None)
            raise ValueError(f"buf must be a 1-D numpy array of {self.size} elements, got shape {shape}")
        if not buf.flags.c_contiguous:
            raise ValueError("buf must be C-contiguous (views into it are written in place)")
        return buf

    def weights(self, buf: np.ndarray) -> List[np.ndarray]:
        """Per-layer views W_l [d_l, d_{l+1}] into `buf` (writes go to `buf`)."""
        buf = self._check(buf)
        return [buf[off:off + i * o].reshape(i, o) for off, (i, o) in zip(self.weight_offsets, self.shapes)]

    def biases(self, buf: np.ndarray) -> List[np.ndarray]:
        """Per-layer views b_l [d_{l+1}] into `buf`."""
        buf = self._check(buf)
        return [buf[off:off + o] for off, (_, o) in zip(self.bias_offsets, self.shapes)]

    def weights_slice(self, buf: np.ndarray) -> np.ndarray:
        """All weights: ``buf[:n_weights]`` (penalties apply here)."""
        return self._check(buf)[: self.n_weights]

    def biases_slice(self, buf: np.ndarray) -> np.ndarray:
        """All biases: ``buf[n_weights:]`` (no penalties)."""
        return self._check(buf)[self.n_weights:]

    def empty(self, dtype=np.float32, rows: int | None = None) -> np.ndarray:
        """A zeroed flat buffer (or [rows, size] for optimizer state)."""
        shape = (self.size,) if rows is None else (int(rows), self.size)
        return np.zeros(shape, dtype=dtype)

    def pack(self, weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], dtype=None) -> np.ndarray:
        """A new flat buffer from per-layer arrays (shapes checked)."""
        if len(weights) != self.n_layers or len(biases) != self.n_layers:
            raise ValueError(f"expected {self.n_layers} weight and bias arrays, got {len(weights)} and {len(biases)}")
        dtype = np.dtype(dtype if dtype is not None else np.result_type(*weights, *biases))
        buf = np.empty(self.size, dtype=dtype)
        for l, (view, w) in enumerate(zip(self.weights(buf), weights)):
            w = np.asarray(w)
            if w.shape != view.shape:
                raise ValueError(f"weights[{l}] must have shape {view.shape}, got {w.shape}")
            view[...] = w
        for l, (view, b) in enumerate(zip(self.biases(buf), biases)):
            b = np.asarray(b)
            if b.shape != view.shape:
                raise ValueError(f"biases[{l}] must have shape {view.shape}, got {b.shape}")
            view[...] = b
        return buf

    def __eq__(self, other) -> bool:
        return isinstance(other, FlatLayout) and other.sizes == self.sizes

    def __hash__(self) -> int:
        return hash(self.sizes)

    def __repr__(self) -> str:
        return f"FlatLayout(sizes={list(self.sizes)}, n_weights={self.n_weights}, size={self.size})"
