"""Type stubs of the smmcool Python API (units in the names: _t tesla, _k kelvin, _s seconds)."""

import os
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str

ArrayLike = Union[float, npt.ArrayLike]
MaterialLike = Union[None, str, "Material"]

class Engine:
    """The shared tables of the engine, owned by this object (bounded in size)."""

    def __init__(self) -> None: ...

class SmmcoolError(Exception):
    """Base class of the errors smmcool raises."""

class InputError(SmmcoolError, ValueError):
    """A value smmcool cannot use (the command line's message, naming the keyword)."""

class SolverError(SmmcoolError, RuntimeError):
    """The engine failed on valid input (e.g. a stage needed more than max_steps steps)."""

    time_s: Optional[float]
    field_t: Optional[float]
    temperature_k: Optional[float]
    stage: Optional[str]
    parameters: Dict[str, float]

class Material:
    preset: str
    overrides: Dict[str, Any]
    name: str
    spin: float
    d_k: float
    g_par: float
    # The spin Hamiltonian beyond Eq. 1 (K; T; degrees), as given (a preset's converted).
    b4_k: float
    c4_k: float
    e_k: float
    transverse_field_t: float
    misalignment_deg: float
    has_tunnelling: bool
    debye_temperature_k: float
    phonon_units: float
    tau0_s: float
    barrier_k: float
    m: np.ndarray
    source: str
    def __init__(
        self,
        preset: str = "mn12ac",
        *,
        spin: Optional[float] = None,
        d_cm1: Optional[float] = None,
        d_k: Optional[float] = None,
        g_par: Optional[float] = None,
        debye_temperature_k: Optional[float] = None,
        phonon_units: Optional[float] = None,
        tau0_s: Optional[float] = None,
        barrier_k: Optional[float] = None,
        b4_k: Optional[float] = None,
        c4_k: Optional[float] = None,
        e_k: Optional[float] = None,
        transverse_field_t: Optional[float] = None,
        misalignment_deg: Optional[float] = None,
    ) -> None: ...
    @property
    def hamiltonian(self) -> Dict[str, float]: ...
    def keywords(self) -> Dict[str, Any]: ...
    def replace(self, **overrides: Any) -> "Material": ...

class Scenario:
    toml: str
    def __init__(
        self,
        *,
        material: MaterialLike = None,
        segment: Optional[List["Segment"]] = None,
        cycles: Optional[int] = None,
        **kwargs: Any,
    ) -> None: ...
    @classmethod
    def from_toml(cls, text: str) -> "Scenario": ...
    @classmethod
    def from_file(cls, path: Union[str, os.PathLike]) -> "Scenario": ...
    def simulate(self, engine: Optional[Engine] = None) -> "Run": ...

class Run:
    summary: Dict[str, Any]
    units: Dict[str, str]
    m: np.ndarray
    trajectory: Optional[Dict[str, np.ndarray]]
    # Summary values (None where not computed).
    status: str
    outcome: str
    material: str
    # The spin Hamiltonian as given: spin, d_k (K), g_par (the material's g), b4_k, c4_k, e_k
    # (K), transverse_field_t (T), misalignment_deg (degrees).
    hamiltonian: Dict[str, float]
    b_initial_t: float
    b_final_t: float
    initial_temperature_k: float
    sweep_rate_t_per_s: Optional[float]
    ramp_duration_s: float
    shape: str
    waveform_points: int
    waveform_source: Optional[str]
    sudden_final_temperature_k: Optional[float]
    isentropic_final_temperature_k: Optional[float]
    temperature_after_ramp_k: Optional[float]
    equilibrium_temperature_k: Optional[float]
    end_temperature_k: Optional[float]
    end_after_ramp_s: Optional[float]
    equilibrium_after_ramp_s: Optional[float]
    relaxation_10pct_after_ramp_s: Optional[float]
    relaxation_1pct_after_ramp_s: Optional[float]
    energy_balance_error_rel: Optional[float]
    reduction_error_estimate_rel: Optional[float]
    # How the ramp was integrated: jump, full, reduced or switched_to_full (None for a failed run).
    ramp_formulation: Optional[str]
    minimum_temperature_k: Optional[float]
    minimum_after_ramp_s: Optional[float]
    end_heat_to_bath_k: Optional[float]
    # Of a segmented protocol (segment=, cycles=): one dict per segment / per cycle.
    segment_reports: Optional[List[Dict[str, Any]]]
    cycle_reports: Optional[List[Dict[str, Any]]]
    steps: int
    wall_time_s: float
    sample_times_after_ramp_s: np.ndarray
    sample_temperatures_k: np.ndarray
    # Trajectory (one entry per output sample).
    time_s: np.ndarray
    field_t: np.ndarray
    phonon_temperature_k: np.ndarray
    populations: np.ndarray
    magnetization_mu_b: np.ndarray
    magnetization_am2_per_mol: np.ndarray
    spin_energy_k: np.ndarray
    phonon_energy_k: np.ndarray
    magnetic_work_k: np.ndarray
    heat_to_bath_k: np.ndarray
    heat_flow_to_bath_k_per_s: np.ndarray
    spin_entropy_kb: np.ndarray
    phonon_entropy_kb: np.ndarray
    stage: np.ndarray
    def __init__(
        self, summary: Dict[str, Any], trajectory: Optional[Dict[str, np.ndarray]], m: ArrayLike
    ) -> None: ...
    @property
    def scenario(self) -> Scenario: ...
    def to_xarray(self) -> Any: ...

def presets() -> List[str]: ...
def quantities() -> Dict[str, tuple]: ...
def levels(field_t: ArrayLike, *, material: MaterialLike = None, **overrides: Any) -> Dict[str, np.ndarray]: ...
def resonances(k_max: int = 2, *, material: MaterialLike = None, **overrides: Any) -> Dict[str, Any]:
    """``smmcool resonances --json`` as a dict: ``material``, ``hamiltonian``, ``convention``,
    ``records`` and arrays ``k``, ``m``, ``m_prime``, ``field_t`` (T), ``energy_k``,
    ``energy_above_ground_k``, ``splitting_k`` (K), ``splitting_method``, ``pair_weight``,
    ``delocalized``, one entry per resonance."""
    ...
def tau(
    temperature_k: ArrayLike,
    field_t: Optional[ArrayLike] = None,
    *,
    material: MaterialLike = None,
    kappa_scaling: Optional[str] = None,
    kappa_reference_k: Optional[float] = None,
    kappa_per_s_k3: Optional[float] = None,
    kappa_calibration: Optional[str] = None,
    **overrides: Any,
) -> Dict[str, Any]:
    """Relaxation times (s) at ``temperature_k`` (K) and, optionally, ``field_t`` (T, broadcast):
    ``tau_arrhenius_s``, ``tau_model_s``, ``kappa_per_s_k3``; with a field or a Hamiltonian
    beyond Eq. 1 also ``field_t``, ``tau_without_tunnelling_s`` (with transverse terms),
    ``mechanisms``, ``tunnelling_pairs``; always ``material`` and ``hamiltonian``."""
    ...
def limits(
    b_initial_t: float,
    b_final_t: ArrayLike,
    initial_temperature_k: ArrayLike,
    *,
    material: MaterialLike = None,
    **overrides: Any,
) -> Dict[str, Any]: ...
Segment = Dict[str, Union[str, bool, float, List[float], os.PathLike]]

def simulate(
    scenario: Optional[Scenario] = None,
    *,
    engine: Optional[Engine] = None,
    material: MaterialLike = None,
    segment: Optional[List[Segment]] = None,
    cycles: Optional[int] = None,
    reduction_tol_rel: Optional[float] = None,
    **kwargs: Any,
) -> Run: ...

class BatchOutcome(tuple):
    runs: int
    computed: int
    resumed: int
    failed: int
    wall_time_s: float
    shard: Tuple[int, int]

def run_batch(
    config: Union[str, os.PathLike],
    output: Union[str, os.PathLike],
    threads: Optional[int] = None,
    progress: bool = True,
    *,
    resume: bool = False,
    force: bool = False,
    yes: bool = False,
    shard: Union[None, str, Tuple[int, int]] = None,
) -> BatchOutcome: ...
def merge(
    inputs: List[Union[str, os.PathLike]], output: Union[str, os.PathLike], *, force: bool = False
) -> int: ...
def read(path: Union[str, os.PathLike], pandas: Optional[bool] = None) -> Any: ...
def read_waveforms(path: Union[str, os.PathLike]) -> Dict[int, Dict[str, npt.NDArray[np.float64]]]:
    """The field waveforms of a batch file: run index -> ``{"time_s": ndarray, "field_t":
    ndarray}``, the file's ``/waveforms/run_NNNNNN/time_s`` (s since the first point) and
    ``field_t`` (T), for the runs whose field is a waveform or a segmented protocol."""
    ...
