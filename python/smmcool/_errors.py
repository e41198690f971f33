"""The exceptions smmcool raises: one base, and one class per kind of failure.

The kinds are those of the command line's exit codes: input smmcool cannot use (exit 2) is an
:class:`InputError`, also a ``ValueError``; a computation that failed on valid input (exit 1)
is a :class:`SolverError`, also a ``RuntimeError``. Catch :class:`SmmcoolError` for both.
"""

from __future__ import annotations

from typing import Dict, Optional


class SmmcoolError(Exception):
    """Base class of the errors smmcool raises."""


class InputError(SmmcoolError, ValueError):
    """A value smmcool cannot use (the command line exits 2).

    The message is the command line's, naming the keyword argument in place of the flag
    (``tau0_s = -1 is not allowed: must be a finite number > 0``).
    """


class SolverError(SmmcoolError, RuntimeError):
    """The engine failed on valid input (the command line exits 1), e.g. a stage needed more
    than ``max_steps`` integrator steps.

    Attributes (``None`` where the failure has no such value):

    - ``time_s``: time of the failure since the start of the ramp, s;
    - ``field_t``: the field then, T;
    - ``temperature_k``: the last good phonon temperature, K;
    - ``stage``: the formulation that failed (``"full relaxation"``, ``"reduced ramp"``, ...);
    - ``parameters``: the run's ``b_initial_t`` (T), ``b_final_t`` (T) and
      ``initial_temperature_k`` (K).
    """

    time_s: Optional[float] = None
    field_t: Optional[float] = None
    temperature_k: Optional[float] = None
    stage: Optional[str] = None
    parameters: Dict[str, float] = {}
