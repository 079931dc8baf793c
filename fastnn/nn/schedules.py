"""Learning-rate schedules, evaluated once per epoch (as scikit-learn does).

The loop calls ``start(lr0)`` once, ``lr_at(epoch, samples_seen)`` before every
epoch (0-based), and ``on_plateau()`` when the tolerance check sees no
improvement for ``n_iter_no_change`` epochs: a schedule that returns True has
handled the plateau (training goes on), False lets the loop stop.

* ``constant``: lr0.
* ``invscaling``: ``lr0 / (samples_seen + 1) ** power_t`` (scikit-learn's, where
  time is counted in samples seen).
* ``step``: ``lr0 * gamma ** (epoch // step_size)``.
* ``cosine``: ``min_lr + (lr0 - min_lr) (1 + cos(pi epoch / t_max)) / 2``, held at
  min_lr after t_max (``MLP.fit(schedule="cosine")`` sets t_max to its ``epochs``, and
  refuses epochs past t_max when min_lr is 0, as they would not train; a resumed fit may
  take a new t_max; ``Cosine()`` made directly defaults to 100).
* ``adaptive`` (reduce on plateau, scikit-learn's): on a plateau divide lr by
  ``factor`` (5) unless it is already <= min_lr (1e-6), in which case stop.
"""
from __future__ import annotations

import inspect
import math
from typing import Any, Dict, Optional

from .. import kernels

__all__ = ["Schedule", "Constant", "InverseScaling", "StepDecay", "Cosine", "ReduceOnPlateau", "SCHEDULES",
           "get_schedule"]


def _real(name: str, v: Any) -> float:
    """A finite float >= 0. Checked when the schedule is made: a bad value would otherwise
    surface only epochs later, as a learning rate the update kernels refuse (or a NaN loss)."""
    return kernels.check_real(name, v, low=0.0)


class Schedule:
    name = ""

    def __init__(self) -> None:
        self.lr0 = self.lr = float("nan")

    def start(self, lr0: float) -> None:
        self.lr0 = self.lr = float(lr0)

    def lr_at(self, epoch: int, samples_seen: int) -> float:
        return self.lr

    def on_plateau(self) -> bool:
        return False

    def get_config(self) -> Dict[str, Any]:
        return {}

    def get_state(self) -> Dict[str, Any]:
        return {"lr0": self.lr0, "lr": self.lr}

    def set_state(self, state: Dict[str, Any]) -> None:
        self.lr0, self.lr = float(state["lr0"]), float(state["lr"])

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Constant(Schedule):
    name = "constant"


class InverseScaling(Schedule):
    name = "invscaling"

    def __init__(self, power_t: float = 0.5):
        super().__init__()
        self.power_t = _real("power_t", power_t)

    def lr_at(self, epoch, samples_seen):
        try:
            self.lr = self.lr0 / (samples_seen + 1) ** self.power_t
        except OverflowError:  # the divisor is past the float range: the rate has decayed to 0
            self.lr = 0.0
        return self.lr

    def get_config(self):
        return {"power_t": self.power_t}


class StepDecay(Schedule):
    name = "step"

    def __init__(self, step_size: int = 10, gamma: float = 0.1):
        super().__init__()
        self.step_size = kernels.check_int("step_size", step_size, 1)
        self.gamma = _real("gamma", gamma)
        if not 0.0 < self.gamma <= 1.0:
            raise ValueError(f"gamma must be in (0, 1], got {gamma!r}")

    def lr_at(self, epoch, samples_seen):
        self.lr = self.lr0 * self.gamma ** (epoch // self.step_size)
        return self.lr

    def get_config(self):
        return {"step_size": self.step_size, "gamma": self.gamma}


class Cosine(Schedule):
    name = "cosine"

    def __init__(self, t_max: int = 100, min_lr: float = 0.0):
        super().__init__()
        self.t_max, self.min_lr = kernels.check_int("t_max", t_max, 1), _real("min_lr", min_lr)

    def lr_at(self, epoch, samples_seen):
        e = min(epoch, self.t_max)
        self.lr = self.min_lr + 0.5 * (self.lr0 - self.min_lr) * (1.0 + math.cos(math.pi * e / self.t_max))
        return self.lr

    def get_config(self):
        return {"t_max": self.t_max, "min_lr": self.min_lr}


class ReduceOnPlateau(Schedule):
    name = "adaptive"

    def __init__(self, factor: float = 5.0, min_lr: float = 1e-6):
        super().__init__()
        self.factor, self.min_lr = _real("factor", factor), _real("min_lr", min_lr)
        if not self.factor > 1.0:
            raise ValueError(f"factor (the divisor) must be > 1, got {factor!r}")

    def on_plateau(self):
        if self.lr <= self.min_lr:
            return False
        self.lr /= self.factor
        return True

    def get_config(self):
        return {"factor": self.factor, "min_lr": self.min_lr}


SCHEDULES = {c.name: c for c in (Constant, InverseScaling, StepDecay, Cosine, ReduceOnPlateau)}
SCHEDULES["reduce_on_plateau"] = ReduceOnPlateau


def get_schedule(schedule: Optional[Any], **kwargs) -> Schedule:
    """A Schedule from None (constant), a name (with its options) or an instance."""
    if schedule is None or isinstance(schedule, Schedule):
        if kwargs:  # they would be dropped without a word
            why = "the constant schedule takes none" if schedule is None else "an instance takes them from its constructor"
            raise ValueError(f"schedule options {sorted(kwargs)} given with schedule={schedule!r}: {why}")
        return Constant() if schedule is None else schedule
    if not isinstance(schedule, str) or schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {sorted(SCHEDULES)} or a Schedule, got {schedule!r}")
    cls = SCHEDULES[schedule]
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = set(kwargs) - accepted
    if unknown:  # (Python's own error named Schedule.__init__, not the schedule)
        raise TypeError(f"schedule {schedule!r} does not take {sorted(unknown)}; it takes {sorted(accepted)}")
    return cls(**kwargs)
