"""smmcool: time-domain kinetics of non-equilibrium magnetic cooling in single-molecule magnets.

The Python face of the Rust engine (the same library the ``smmcool`` command runs). Keyword
arguments have the names and units of the command line's flags and the TOML keys
(``b_initial_t``, ``initial_temperature_k``, ``sweep_rate_t_per_s``, ``tau0_s``, ...; the preset
is ``material``), go through the same validation, and a bad value raises ``InputError`` (a
``ValueError``) with the command line's message, naming the keyword instead of the flag. A run
that fails on valid input raises ``SolverError`` (a ``RuntimeError``); both derive from
``SmmcoolError``.

Units: energies per molecule in kelvin (E/k_B), fields in tesla, times in seconds, entropies in
k_B per molecule, magnetization in Bohr magnetons per molecule.

>>> import smmcool
>>> run = smmcool.simulate(b_initial_t=0.5, b_final_t=0.1, initial_temperature_k=4.0,
...                        sweep_rate_t_per_s=10.0)
>>> run.temperature_after_ramp_k, run.sample_temperatures_k  # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np

from . import _smmcool as _ext
from ._errors import InputError, SmmcoolError, SolverError
from ._smmcool import Engine, __version__

__all__ = [
    "Engine",
    "InputError",
    "Material",
    "Run",
    "Scenario",
    "SmmcoolError",
    "SolverError",
    "__version__",
    "levels",
    "limits",
    "presets",
    "quantities",
    "merge",
    "read",
    "read_waveforms",
    "resonances",
    "run_batch",
    "simulate",
    "tau",
]

_ENGINE: Optional[Engine] = None


def _default_engine() -> Engine:
    """The module's Engine: its tables are bounded (least recently used evicted)."""
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = Engine()
    return _ENGINE


def presets() -> list:
    """The material preset keys (``smmcool presets`` on the command line)."""
    return list(_ext.presets())


_QUANTITIES: Dict[str, tuple] = dict(_ext.quantities())
_UNITS: Dict[str, str] = {k: v[0] for k, v in _QUANTITIES.items()}


def quantities() -> Dict[str, tuple]:
    """Every output quantity: name -> (unit, description), from the library's one table."""
    return dict(_QUANTITIES)


_HAMILTONIAN_KEYS = ("spin", "d_k", "g_par", "b4_k", "c4_k", "e_k", "transverse_field_t", "misalignment_deg")


class Material:
    """A material: a preset (default ``"mn12ac"``; ``presets()`` lists them, the spectroscopic
    Mn12Ac ones ``"mn12ac-barra"``, ``"mn12ac-mirebeau"``, ``"mn12ac-bircher"`` included) with
    optional overrides.

    Overrides (all optional; the names and units of the command line's flags and the TOML's
    ``[material]`` keys): ``spin``, ``d_cm1`` or ``d_k`` (axial splitting D in cm^-1 or K),
    ``g_par``, ``debye_temperature_k`` (K), ``phonon_units``, ``tau0_s`` (s), ``barrier_k``
    (K), and the spin Hamiltonian beyond the paper's Eq. 1 (docs/physics.md section 10):
    ``b4_k`` (fourth-order axial B4, coefficient of Sz^4, K), ``c4_k`` (fourth-order transverse
    C, coefficient of S+^4 + S-^4, K), ``e_k`` (rhombic E, coefficient of Sx^2 - Sy^2, K),
    ``transverse_field_t`` (a fixed field perpendicular to the easy axis, T) or
    ``misalignment_deg`` (the angle between the easy axis and the applied field, degrees, in
    [0, 30]; not with ``transverse_field_t``). The three anisotropy overrides replace the
    preset's values. The values are validated at once, as ``smmcool resonances``, ``tau`` and
    ``simulate`` validate them (InputError, a ValueError, with the command line's message naming
    the keyword).

    A material with C, E, a transverse field or a misalignment relaxes also by resonant
    tunnelling (``has_tunnelling``) in ``tau``, ``resonances``, ``simulate`` and ``run_batch``;
    ``levels`` and ``limits`` use the localized axial levels of Eq. 2 and refuse a material
    with terms beyond D, as the command line does.

    Attributes after validation: ``name``, ``spin``, ``d_k`` (K), ``g_par`` (the material's g;
    with a misalignment the levels use g cos(theta)), ``b4_k``, ``c4_k``, ``e_k`` (K),
    ``transverse_field_t`` (T), ``misalignment_deg`` (degrees) -- the Hamiltonian as given, a
    preset's Stevens parameters converted to K, as in the ``hamiltonian`` record of the
    command line's JSON --, ``has_tunnelling``, ``debye_temperature_k`` (K), ``phonon_units``,
    ``tau0_s`` (s), ``barrier_k`` (K), ``m`` (the M values -S..S, one per level), ``source``.
    """

    def __init__(self, preset: str = "mn12ac", **overrides: Any) -> None:
        self.preset = preset
        self.overrides = {k: v for k, v in overrides.items() if v is not None}
        info = _ext.material_info(material=preset, **self.overrides)
        self.name: str = info["name"]
        self.spin: float = info["spin"]
        self.d_k: float = info["d_k"]
        self.g_par: float = info["g_par"]
        self.b4_k: float = info["b4_k"]
        self.c4_k: float = info["c4_k"]
        self.e_k: float = info["e_k"]
        self.transverse_field_t: float = info["transverse_field_t"]
        self.misalignment_deg: float = info["misalignment_deg"]
        self.has_tunnelling: bool = info["has_tunnelling"]
        self.debye_temperature_k: float = info["debye_temperature_k"]
        self.phonon_units: float = info["phonon_units"]
        self.tau0_s: float = info["tau0_s"]
        self.barrier_k: float = info["barrier_k"]
        self.m: np.ndarray = info["m"]
        self.source: str = info["source"]

    @property
    def hamiltonian(self) -> Dict[str, float]:
        """The spin Hamiltonian as a dict, the ``hamiltonian`` record of the command line's
        JSON and of ``Run.hamiltonian``: ``spin``, ``d_k``, ``g_par``, ``b4_k``, ``c4_k``,
        ``e_k`` (K), ``transverse_field_t`` (T), ``misalignment_deg`` (degrees)."""
        return {k: getattr(self, k) for k in _HAMILTONIAN_KEYS}

    def keywords(self) -> Dict[str, Any]:
        """The keyword arguments that select this material."""
        return {"material": self.preset, **self.overrides}

    def replace(self, **overrides: Any) -> "Material":
        """A copy with more (or changed) overrides."""
        return Material(self.preset, **{**self.overrides, **overrides})

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.overrides.items())
        return f"Material({self.preset!r}{extra})"


def _keywords(material: Union[None, str, Material], kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """Merge a material (preset key or Material) into keyword arguments; explicit ones win."""
    if material is None:
        out: Dict[str, Any] = {}
    elif isinstance(material, Material):
        out = material.keywords()
    else:
        out = {"material": material}
    out.update({k: v for k, v in kwargs.items() if v is not None})
    return out


def _vector(x: Any) -> np.ndarray:
    return np.ascontiguousarray(np.ravel(np.asarray(x, dtype=np.float64)))


def _broadcast_vector(x: np.ndarray, shape: Tuple[int, ...]) -> np.ndarray:
    """``x`` broadcast to ``shape`` as a flat contiguous vector, or as one element if it has one."""
    return _vector(x) if x.size == 1 else _vector(np.broadcast_to(x, shape))


def levels(field_t: Any, *, material: Union[None, str, Material] = None, **overrides: Any) -> Dict[str, Any]:
    """Level energies E_M(B) = D [M^2 - S(S+1)/3] + g_par mu_B B M (K) at the field(s) ``field_t`` (T).

    Material overrides ``spin``, ``d_cm1``/``d_k`` and ``g_par`` (or a ``Material``); the others
    (``tau0_s``, ``barrier_k``, ``debye_temperature_k``, ``phonon_units``) do not enter the
    levels and are refused (InputError), as by ``smmcool levels``; a ``Material`` may carry them.

    Returns a dict with ``m`` (the M values), ``energy_k`` and ``energy_above_ground_k``
    (E_M - E_ground, the paper's Fig. 2), each of shape ``shape(field_t) + (2S+1,)``.
    """
    shape = np.shape(field_t)
    _ext.refuse_no_effect("levels", **overrides)
    m, e, rel = _ext.levels(_vector(field_t), **_keywords(material, overrides))
    n = m.shape[0]
    return {
        "m": m,
        "energy_k": e.reshape(shape + (n,)),
        "energy_above_ground_k": rel.reshape(shape + (n,)),
    }


_K_MAX_LIMIT = 2**32 - 1


def resonances(k_max: int = 2, *, material: Union[None, str, Material] = None, **overrides: Any) -> Dict[str, Any]:
    """The resonances between the levels of the two wells and their tunnel splittings, as
    ``smmcool resonances --json`` (the same numbers): for k = 0..``k_max`` the fields where the
    localized level m of the metastable well (raised by a positive field) crosses m' = k - m of
    the other, with the axial part D, B4 and the field (docs/physics.md sections 10.3-10.4).

    The material is a preset key or a ``Material`` and the keywords of ``Material`` (the
    spectroscopic presets and ``b4_k``, ``c4_k``, ``e_k`` (K), ``transverse_field_t`` (T),
    ``misalignment_deg`` (degrees) for the Hamiltonian); ``tau0_s``, ``barrier_k``,
    ``debye_temperature_k`` and ``phonon_units`` do not enter the spectrum and are refused, as
    by the command line (a ``Material`` may carry them). The Hamiltonian's terms take any
    finite value here (a spectrum, no kinetic range). Bad input raises InputError (a
    ValueError) with the command line's message naming the keyword.

    Returns a dict: ``material`` (the preset key), ``hamiltonian`` (dict, as
    ``Material.hamiltonian``), ``convention`` (the Hamiltonian's form and the sign of the
    field), ``records`` (one dict per resonance, as in the JSON) and one array per field of the
    records, one entry per resonance: ``k`` (int), ``m``, ``m_prime`` (m' = k - m),
    ``field_t`` (the crossing field, T; with a misalignment the applied field B),
    ``energy_k`` and ``energy_above_ground_k`` (the pair's axial energy at the crossing and
    above the ground level then, K), ``splitting_k`` (the tunnel splitting Delta, the minimum
    gap of the avoided crossing, K), ``splitting_method`` (``partitioned``: full relative
    precision; ``dense``: the pair is not separated from the other levels), ``pair_weight``
    and ``delocalized`` (bool: pair weight < 0.5).
    """
    if isinstance(k_max, bool) or not isinstance(k_max, (int, np.integer)) or not 0 <= k_max <= _K_MAX_LIMIT:
        raise InputError(f"k_max = {k_max!r} is not allowed: must be an integer in 0..={_K_MAX_LIMIT}")
    _ext.refuse_no_effect("resonances", **overrides)
    doc = _ext.resonances(int(k_max), **_keywords(material, overrides))
    recs = doc["resonances"]
    out: Dict[str, Any] = {
        "material": doc["material"],
        "hamiltonian": doc["hamiltonian"],
        "convention": doc["convention"],
        "records": recs,
    }
    out["k"] = np.array([r["k"] for r in recs], dtype=np.int64)
    for name in ("m", "m_prime", "field_t", "energy_k", "energy_above_ground_k", "splitting_k", "pair_weight"):
        out[name] = np.array([r[name] for r in recs], dtype=np.float64)
    out["splitting_method"] = np.array([r["splitting_method"] for r in recs], dtype=object)
    out["delocalized"] = np.array([r["delocalized"] for r in recs], dtype=bool)
    return out


def tau(
    temperature_k: Any,
    field_t: Any = None,
    *,
    material: Union[None, str, Material] = None,
    kappa_scaling: Optional[str] = None,
    kappa_reference_k: Optional[float] = None,
    kappa_per_s_k3: Optional[float] = None,
    kappa_calibration: Optional[str] = None,
    **overrides: Any,
) -> Dict[str, Any]:
    """Relaxation times at the temperature(s) ``temperature_k`` (K), as ``smmcool tau``.

    ``debye_temperature_k`` and ``phonon_units`` do not enter tau and are refused (InputError),
    as by ``smmcool tau``; a ``Material`` may carry them. ``kappa_calibration``
    (``"without_tunnelling"``, the default, or ``"with_tunnelling"``) chooses which rates the
    calibration of kappa matches to tau0 exp(U_b/T) at B = 0 (docs/physics.md section 10.6).

    Without ``field_t`` and with the axial material: the zero-field table (``smmcool tau
    --json``). With ``field_t`` (T, along the easy axis; scalar or array, broadcast against
    ``temperature_k``), or with a Hamiltonian beyond Eq. 1 (a spectroscopic preset or any of
    ``b4_k``, ``c4_k``, ``e_k``, ``transverse_field_t``, ``misalignment_deg``; then at B = 0
    without ``field_t``): ``smmcool tau --field-t ... --json``, tau = 1/(kappa(T) lambda1(B, T))
    of the rate model with its resonant tunnelling when the Hamiltonian has transverse terms.

    Returns a dict of arrays shaped like the (broadcast) inputs (floats for scalars):
    ``tau_arrhenius_s`` (tau0 exp(U_b/T), s), ``tau_model_s`` (1/lambda1 of the rate model, s)
    and ``kappa_per_s_k3`` (the rate scale, 1/(s K^3)); with a field (as above) also
    ``field_t`` (T), and with transverse terms ``tau_without_tunnelling_s`` (the spin-phonon
    rates alone at the same kappa(T), s). Besides: ``material`` (its name), ``hamiltonian``
    (dict, as ``Material.hamiltonian``) and, with a field, ``mechanisms`` (names) and
    ``tunnelling_pairs`` (the records of the command line's JSON: ``m``, ``m_prime``, ``k``,
    ``field_t``, ``splitting_k``, ``splitting_method``).
    """
    _ext.refuse_no_effect("tau", **overrides)
    kw = _keywords(material, overrides)
    kw.update(
        {
            k: v
            for k, v in dict(
                kappa_scaling=kappa_scaling,
                kappa_reference_k=kappa_reference_k,
                kappa_per_s_k3=kappa_per_s_k3,
                kappa_calibration=kappa_calibration,
            ).items()
            if v is not None
        }
    )
    if field_t is None:
        shape = np.shape(temperature_k)
        d = _ext.tau(_vector(temperature_k), None, **kw)
        if d["field"]:
            d["field_t"] = np.zeros(shape if shape else (1,), dtype=np.float64).ravel()
    else:
        t, b = np.broadcast_arrays(np.asarray(temperature_k, dtype=np.float64), np.asarray(field_t, dtype=np.float64))
        shape = t.shape
        d = _ext.tau(_vector(t), _vector(b), **kw)
        d["field_t"] = _vector(b)
    out: Dict[str, Any] = {"material": d["material"], "hamiltonian": d["hamiltonian"]}
    arrays = ["tau_arrhenius_s", "tau_model_s", "kappa_per_s_k3", "field_t", "tau_without_tunnelling_s"]
    for name in arrays:
        if name in d:
            a = d[name]
            out[name] = float(a[0]) if shape == () else a.reshape(shape)
    if d["field"]:
        out["mechanisms"] = list(d["mechanisms"])
        out["tunnelling_pairs"] = d["tunnelling_pairs"]
    return out


def limits(
    b_initial_t: float,
    b_final_t: Any,
    initial_temperature_k: Any,
    *,
    material: Union[None, str, Material] = None,
    **overrides: Any,
) -> Dict[str, Any]:
    """The sudden-quench (Eq. 9) and isentropic (Eq. 11) final temperatures of Bi -> Bf from Ti.

    ``b_final_t`` (T) and ``initial_temperature_k`` (K) are scalars or arrays, broadcast
    against each other. ``tau0_s`` and ``barrier_k`` do not enter the limits and are refused
    (InputError), as by ``smmcool limits``; a ``Material`` may carry them. Returns a dict: ``sudden_final_temperature_k``,
    ``sudden_delta_temperature_k``, ``isentropic_final_temperature_k``,
    ``isentropic_delta_temperature_k`` (NaN in arrays, None for scalars, where Eq. 11 has no
    finite solution) and ``note`` (the reason there is none, else None).
    """
    _ext.refuse_no_effect("limits", **overrides)
    bf = np.asarray(b_final_t, dtype=np.float64)
    ti = np.asarray(initial_temperature_k, dtype=np.float64)
    shape = np.broadcast_shapes(bf.shape, ti.shape)
    # A one-element side is passed as it is (the extension broadcasts it): no copy of it per
    # element. The differences to Ti are computed with the roots, in the parallel loop.
    s, ds, q, dq, where, notes = _ext.limits(
        _default_engine(),
        float(b_initial_t),
        _broadcast_vector(bf, shape),
        _broadcast_vector(ti, shape),
        **_keywords(material, overrides),
    )
    out = {
        "sudden_final_temperature_k": s,
        "sudden_delta_temperature_k": ds,
        "isentropic_final_temperature_k": q,
        "isentropic_delta_temperature_k": dq,
    }
    if shape == ():
        res: Dict[str, Any] = {k: (None if math.isnan(v[0]) else float(v[0])) for k, v in out.items()}
        res["note"] = notes[0] if notes else None
        return res
    res = {k: v.reshape(shape) for k, v in out.items()}
    note = np.empty(s.size, dtype=object)  # None everywhere
    if where:
        note[where] = notes
    res["note"] = note.reshape(shape)
    return res


class Scenario:
    """One run's input, validated: from keyword arguments, TOML text or a TOML file.

    ``Scenario(b_initial_t=0.5, b_final_t=0.1, initial_temperature_k=4, sweep_rate_t_per_s=10)``
    takes the keys of a config's sections (``material`` as a preset key or a ``Material``);
    ``Scenario.from_toml(text)`` and ``Scenario.from_file(path)`` take a config without sweeps.
    ``.toml`` is the scenario as TOML (a config ``smmcool run`` accepts).
    """

    def __init__(self, *, material: Union[None, str, Material] = None, **kwargs: Any) -> None:
        self.toml: str = _ext.scenario_toml(None, **_keywords(material, kwargs))

    @classmethod
    def from_toml(cls, text: str) -> "Scenario":
        s = cls.__new__(cls)
        s.toml = _ext.scenario_toml(text)
        return s

    @classmethod
    def from_file(cls, path: Union[str, os.PathLike]) -> "Scenario":
        with open(path, encoding="utf-8") as f:
            return cls.from_toml(f.read())

    def simulate(self, engine: Optional[Engine] = None) -> "Run":
        """Run it (see ``smmcool.simulate``)."""
        return simulate(self, engine=engine)

    def __repr__(self) -> str:
        return f"Scenario.from_toml({self.toml!r})"


_SAMPLE_ARRAYS = ("sample_times_after_ramp_s", "sample_temperatures_k")
_TRAJECTORY_NAMES = frozenset(_ext.trajectory_quantities())


class _PlainRunData:
    """What a Run reads its values from (the extension's RunData), over plain Python values."""

    def __init__(self, summary: Dict[str, Any], trajectory: Optional[dict], m: np.ndarray) -> None:
        self._summary, self._trajectory, self._m = summary, trajectory, m

    def summary(self) -> Dict[str, Any]:
        return self._summary

    def keys(self) -> "list[str]":
        return list(self._summary)

    def has(self, name: str) -> bool:
        return name in self._summary

    def value(self, name: str) -> Any:
        return self._summary[name]

    def numbers(self, name: str) -> np.ndarray:
        return np.array([np.nan if t is None else t for t in self._summary[name]], dtype=np.float64)

    def has_trajectory(self) -> bool:
        return self._trajectory is not None

    def trajectory(self) -> Optional[dict]:
        return self._trajectory

    def column(self, name: str) -> np.ndarray:
        if self._trajectory is None:
            raise KeyError(name)
        return self._trajectory[name]

    def m(self) -> np.ndarray:
        return self._m


class Run:
    """The result of one run.

    Summary values are attributes named as in the command line's JSON and batch files
    (``temperature_after_ramp_k``, ``equilibrium_temperature_k``, ``end_temperature_k``,
    ``sudden_final_temperature_k``, ``isentropic_final_temperature_k``, ``outcome``,
    ``equilibrium_after_ramp_s``, ``relaxation_10pct_after_ramp_s``, ``ramp_formulation``
    (jump, full, reduced or switched_to_full), ...; None where not computed);
    ``sample_times_after_ramp_s`` and ``sample_temperatures_k`` are arrays.
    The trajectory (when kept) is NumPy arrays, one entry per output sample: ``time_s``,
    ``field_t``, ``phonon_temperature_k``, ``populations`` (2-D: time x level, M = -S..S as in
    ``m``), ``magnetization_mu_b``, ``spin_energy_k``, ``phonon_energy_k``,
    ``magnetic_work_k``, ``spin_entropy_kb``, ``phonon_entropy_kb``, ``stage``.
    ``summary`` is the dict of summary values, ``units`` name -> unit. ``material`` is the
    material's name and ``hamiltonian`` its spin Hamiltonian as given, as in the command line's
    JSON: a dict of ``spin``, ``d_k``, ``g_par``, ``b4_k``, ``c4_k``, ``e_k`` (K),
    ``transverse_field_t`` (T), ``misalignment_deg`` (degrees).
    """

    # The summary's values and the trajectory's columns stay in the engine's record until
    # first asked for; each is then made once and kept in the instance's dict, so a loop that
    # reads two values of each run makes two Python objects, not the ~150 of the whole summary
    # and the trajectory (docs/numerics.md section 9). Reading them in any order gives the same
    # objects: ``run.trajectory["field_t"] is run.field_t``, and container values
    # (``hamiltonian``, ``segment_reports``, ...) are those of ``run.summary``.
    units: Dict[str, str] = _UNITS

    def __init__(self, summary: Dict[str, Any], trajectory: Optional[dict], m: Any) -> None:
        """A Run of plain values: the summary dict (as ``Run.summary``), the trajectory (a dict
        of arrays as ``Run.trajectory``, or None) and the M values. ``smmcool.simulate`` makes
        Runs; this is for Runs kept elsewhere (pickle uses it)."""
        self.__dict__["_data"] = _PlainRunData(summary, trajectory, np.asarray(m, dtype=np.float64))

    @classmethod
    def _of(cls, data: Any) -> "Run":
        run = object.__new__(cls)
        run.__dict__["_data"] = data
        return run

    @property
    def scenario(self) -> Scenario:
        """The scenario of this run (as used, defaults filled in)."""
        return Scenario(**_flatten(self.summary["scenario"]))

    def __getattr__(self, name: str) -> Any:
        # Called only for names not (yet) in the instance's dict.
        d = self.__dict__
        data = d.get("_data")
        if data is None or name.startswith("__"):
            raise AttributeError(name)
        if name == "summary":
            value = data.summary()
        elif name == "trajectory":
            value = data.trajectory()
            if value is not None:
                for k in value:
                    if k in d:
                        value[k] = d[k]
        elif name == "m":
            value = data.m()
        elif name in _SAMPLE_ARRAYS:
            value = data.numbers(name)
        elif data.has(name):
            value = d["summary"][name] if "summary" in d else data.value(name)
            if isinstance(value, (dict, list)):
                value = self.summary[name]
        elif name in _TRAJECTORY_NAMES:
            if not data.has_trajectory():
                raise AttributeError(f"{name}: this run kept no trajectory (trajectory=False)")
            value = d["trajectory"][name] if "trajectory" in d else data.column(name)
        else:
            raise AttributeError(name)
        d[name] = value
        if "summary" in d and "trajectory" in d and not isinstance(data, _PlainRunData):
            # Everything is in Python now: let the engine's copy go.
            d["_data"] = _PlainRunData(d["summary"], d["trajectory"], self.m)
        return value

    def __dir__(self) -> "list[str]":
        names = set(super().__dir__()) | {"summary", "trajectory", "m", *_SAMPLE_ARRAYS}
        data = self.__dict__.get("_data")
        if data is not None:
            names.update(data.keys())
            if data.has_trajectory():
                names.update(_TRAJECTORY_NAMES)
        return sorted(names)

    def __reduce__(self) -> tuple:
        # Every value in plain Python; the instance's dict (values read so far, the caller's
        # own attributes) as the state.
        state = {k: v for k, v in self.__dict__.items() if k != "_data"}
        return (Run, (self.summary, self.trajectory, self.m), state)

    def to_xarray(self):
        """The trajectory as an ``xarray.Dataset``: dimensions ``time`` (coordinate ``time_s``)
        and ``level`` (coordinate ``m``), units in each variable's ``units`` attribute, the
        summary's numbers as the dataset's attributes. Needs xarray (``pip install xarray``)."""
        try:
            import xarray as xr
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("to_xarray needs xarray: pip install xarray") from e
        if self.trajectory is None:
            raise InputError("this run kept no trajectory (trajectory=False)")
        info = _QUANTITIES
        data_vars = {}
        for name, values in self.trajectory.items():
            if name == "time_s":
                continue
            dims = ("time", "level") if values.ndim == 2 else ("time",)
            data_vars[name] = (dims, values, {"units": info[name][0], "description": info[name][1]})
        coords = {
            "time_s": ("time", self.trajectory["time_s"], {"units": "s", "description": info["time_s"][1]}),
            "m": ("level", self.m, {"units": "1", "description": "magnetic quantum number M of the level"}),
        }
        attrs = {
            k: v
            for k, v in self.summary.items()
            if isinstance(v, (int, float, str)) and not isinstance(v, bool)
        }
        return xr.Dataset(data_vars, coords=coords, attrs=attrs)

    def __repr__(self) -> str:
        return (
            f"<smmcool.Run {self.b_initial_t} T -> {self.b_final_t} T from {self.initial_temperature_k} K: "
            f"{self.temperature_after_ramp_k} K after the ramp, {self.end_temperature_k} K at the end ({self.outcome})>"
        )


def _flatten(scenario: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    """A scenario's sections as keyword arguments."""
    out: Dict[str, Any] = {}
    for section, values in scenario.items():
        for k, v in values.items():
            if v is None or (section, k) == ("protocol", "allow_field_increase"):
                continue
            out["material" if (section, k) == ("material", "preset") else k] = v
    return out


def simulate(
    scenario: Optional[Scenario] = None,
    *,
    engine: Optional[Engine] = None,
    material: Union[None, str, Material] = None,
    **kwargs: Any,
) -> Run:
    """Simulate one run in the time domain and return a ``Run``.

    Give a ``Scenario`` or keyword arguments: ``b_initial_t``, ``b_final_t`` (T),
    ``initial_temperature_k`` (K), one of ``sweep_rate_t_per_s`` (T/s) or
    ``ramp_duration_s`` (s) or ``shape="jump"``; optionally ``shape`` (linear, cosine, jump),
    ``material`` (preset key or ``Material``) and its overrides (``Material``'s keywords: the
    spin Hamiltonian's ``b4_k``, ``c4_k``, ``e_k`` (K), ``transverse_field_t`` (T) or
    ``misalignment_deg`` (degrees) among them; with C, E, a transverse field or a misalignment
    the run relaxes also by resonant tunnelling, docs/physics.md section 10), ``kappa_scaling``,
    ``kappa_calibration`` (``"without_tunnelling"``, the default, or ``"with_tunnelling"``:
    which rates the calibration of kappa matches to tau0 exp(U_b/T) at B = 0), ``rtol``, ``equilibrium_tol_k`` (K), ``max_time_after_ramp_s`` (s), ``formulation``,
    ``max_steps`` (integrator steps per stage, 1..=1e9), ``energy_balance_tol_rel`` (a run
    whose energy balance is off by more fails, default 1e-8, in [0, 1]),
    ``reduction_tol_rel`` (the largest two-well reduction error estimate, as a fraction of the
    run's temperature change, that a ramp keeps; above it the ramp is run in the full master
    equation, ``ramp_formulation`` = switched_to_full, or the run fails where the full
    equation cannot take over; default 1e-3, in [0, 1]),
    ``sample_times_after_ramp_s`` (s), ``trajectory`` (keep the trajectory, default True),
    ``log_points_per_decade``. A segmented protocol (a refrigeration cycle with a heat
    switch) is ``segment=[dict(kind="hold", duration_s=300, link_closed=True),
    dict(kind="ramp", b_final_t=0.0, sweep_rate_t_per_s=10.0), ...]`` (one dict per
    ``[[protocol.segment]]`` of a config, from ``b_initial_t``) and ``cycles=N``; a link needs
    ``amount_mol`` (or ``mass_mg``) and ``conductance_w_per_k``. The engine runs without the
    GIL; ``engine`` (an ``Engine``) holds the shared tables (default: the module's).

    Raises InputError (a ValueError) for bad input (the command line's message, naming the
    keyword) and SolverError (a RuntimeError) when the integration fails on valid input, e.g.
    a stage needing more than ``max_steps`` steps (with ``time_s``, ``field_t``,
    ``temperature_k``, ``stage`` and ``parameters``); both are SmmcoolError.
    """
    eng = engine if engine is not None else _default_engine()
    if scenario is not None:
        if kwargs or material is not None:
            raise InputError("give either a Scenario or keyword arguments, not both")
        if not isinstance(scenario, Scenario):
            raise TypeError("scenario must be a smmcool.Scenario (or give keyword arguments)")
        return Run._of(_ext.simulate(eng, scenario.toml))
    return Run._of(_ext.simulate(eng, None, **_keywords(material, kwargs)))


class BatchOutcome(tuple):
    """What ``run_batch`` did: (runs, computed, resumed, failed, wall_time_s, shard); ``runs``
    counts the runs of this shard, ``shard`` is (index, count)."""

    runs = property(lambda self: self[0])
    computed = property(lambda self: self[1])
    resumed = property(lambda self: self[2])
    failed = property(lambda self: self[3])
    wall_time_s = property(lambda self: self[4])
    shard = property(lambda self: self[5])


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
) -> BatchOutcome:
    """Run a batch config (a TOML file path, or TOML text containing a ``[protocol]`` section)
    into the HDF5 file ``output``, as ``smmcool run`` does: parallel on ``threads`` rayon
    threads (None: all cores), a progress bar on a terminal when ``progress``, the GIL
    released. Ctrl-C (KeyboardInterrupt) stops it between runs; the completed runs stay in
    ``OUTPUT.parts`` and ``run_batch(..., resume=True)`` computes only the rest. ``force``
    overwrites an existing output; ``yes`` allows more runs than ``[batch] max_runs``.
    Runs whose engine failed are recorded in the file (``failed`` counts them).

    ``shard`` computes only shard i of N, the runs with index i mod N (``"2/8"`` or ``(2, 8)``,
    as ``smmcool run --shard 2/8``); without it, a SLURM array task's SLURM_ARRAY_TASK_ID and
    SLURM_ARRAY_TASK_COUNT select the shard when set, else all runs. ``merge`` joins the
    shard files.
    """
    text = os.fspath(config)
    is_text = "\n" in text or "[protocol]" in text
    if isinstance(shard, tuple):
        if len(shard) != 2 or not all(isinstance(x, int) and not isinstance(x, bool) for x in shard):
            raise InputError(f"shard = {shard!r} is not allowed: give (index, count) or 'index/count'")
        shard = f"{shard[0]}/{shard[1]}"
    elif shard is not None and not isinstance(shard, str):
        raise InputError(f"shard = {shard!r} is not allowed: give (index, count) or 'index/count'")
    return BatchOutcome(
        _ext.run_batch(text, os.fspath(output), is_text, threads, progress, resume, force, yes, shard)
    )


def merge(
    inputs: "list[Union[str, os.PathLike]]",
    output: Union[str, os.PathLike],
    *,
    force: bool = False,
) -> int:
    """Join shard files of one config (``run_batch(..., shard=...)`` or ``smmcool run
    --shard``) into ``output``, as ``smmcool merge`` does: duplicates and files of other
    configs are refused; ``force`` overwrites an existing output. Returns the config's run
    count. The merged file equals an unsharded run in its runs and summary.
    """
    return _ext.merge([os.fspath(p) for p in inputs], os.fspath(output), force)


def read(path: Union[str, os.PathLike], pandas: Optional[bool] = None):
    """The summary of a batch file (``smmcool run``/``run_batch``), one row per run.

    A pandas DataFrame when pandas is installed (``pandas=None``) or asked for
    (``pandas=True``), else a dict of arrays. Columns: the summary quantities of
    ``quantities()`` (NaN/None where not computed), ``swept <key>`` per swept key, and the
    sample temperatures (K): as a 2-D array ``sample_temperatures_k`` (runs x sample times) in
    the dict, as one column ``temperature_k at <t> s after ramp`` per sample time in the
    DataFrame. The sample times are in ``.attrs["sample_times_after_ramp_s"]`` of the
    DataFrame and under that key in the dict. The runs' field waveforms: ``read_waveforms``.

    The resolved physics of run 0 (the file's root attributes: ``material``, ``spin`` (S;
    files of format version 3 call it ``spin_s`` and read back as ``spin``), ``d_k`` (K),
    ``g_par`` (the material's g), ``b4_k``, ``c4_k``, ``e_k`` (K),
    ``transverse_field_t`` (T), ``misalignment_deg`` (degrees), ``debye_temperature_k``,
    ``tau0_s``, ``barrier_k``, the kappa scaling, sample and link) is a dict in
    ``.attrs["physics"]`` of the DataFrame and under ``"physics"`` in the dict (None when the
    file has none). A file written before the Hamiltonian beyond D was recorded has None for
    ``b4_k`` .. ``misalignment_deg``, and its ``g_par`` is g cos(theta) if it was misaligned
    (its ``config_toml`` attribute has the input).
    """
    columns, sample_times, swept, _, physics = _ext.read(os.fspath(path))
    columns = dict(columns)
    for k in ("status", "outcome", "shape", "error"):
        columns[k] = np.array(columns[k], dtype=object)
    if pandas is None:
        try:
            import pandas as pd  # noqa: F401

            pandas = True
        except ImportError:
            pandas = False
    if not pandas:
        columns["sample_times_after_ramp_s"] = np.asarray(sample_times, dtype=np.float64)
        columns["physics"] = physics
        return columns
    import pandas as pd

    samples = columns.pop("sample_temperatures_k")
    for j, t in enumerate(sample_times):
        columns[f"temperature_k at {t:g} s after ramp"] = samples[:, j]
    frame = pd.DataFrame(columns).set_index("run_index")
    frame.attrs["sample_times_after_ramp_s"] = list(sample_times)
    frame.attrs["swept_keys"] = list(swept)
    frame.attrs["physics"] = physics
    return frame


def read_waveforms(path: Union[str, os.PathLike]):
    """The field waveforms of a batch file's runs that have one (a waveform or a segmented
    protocol): the file's ``/waveforms/run_NNNNNN`` groups as a dict from run index to
    ``{"time_s": array, "field_t": array}`` (corner times in s since the first point, the
    field at each in T); empty when no run has one. Kept out of ``read``'s DataFrame attrs,
    where arrays would break ``pandas.concat``.
    """
    _, _, _, waveforms, _ = _ext.read(os.fspath(path))
    return {int(k): dict(v) for k, v in dict(waveforms).items()}
