"""The paper's Fig. 6 and the 10 T/s time-domain table, from Python.

Fig. 6 of the paper compares, for Mn12-ac and the field change Bi = 0.5 T -> Bf = 0.1 T, the
temperature change Delta T = Tf - Ti of a sudden quench (Eq. 9: the populations stay frozen,
the energy is conserved) with that of a quasi-static, isentropic change (Eq. 11), over the
initial temperature Ti. ``smmcool.limits`` takes an array of Ti and returns both.

The table is README's "What the time domain shows": the paper's proposed protocol, a 10 T/s
linear ramp 0.5 T -> 0.1 T, from Ti = 2, 3 and 4 K, integrated in time by ``smmcool.simulate``:
the phonon temperature 1 s and 1 h after the ramp (with the fraction of the cooling that has
arrived, against the equilibrium this ramp leads to), the equilibrium, when it is reached, and
the sudden prediction.

Run: python docs/python_examples/paper_fig6_and_time_table.py [OUTPUT_DIR]
Writes OUTPUT_DIR/fig6_sudden_vs_isentropic.csv and, with matplotlib installed, .png (300 dpi,
8.5 cm wide); OUTPUT_DIR defaults to the current directory.
"""
import csv
import os
import sys

import numpy as np

import smmcool

B_INITIAL_T = 0.5
B_FINAL_T = 0.1
# Fig. 6's Ti axis (the grid of `smmcool paper`): 0.5 K to 10 K in steps of 0.1 K.
TI_K = np.linspace(0.5, 10.0, 96)
TABLE_TI_K = (2.0, 3.0, 4.0)
SWEEP_RATE_T_PER_S = 10.0
AFTER_RAMP_S = (1.0, 3600.0)


def fig6():
    """Delta T (K) of the sudden quench and of the isentropic change over TI_K."""
    lim = smmcool.limits(B_INITIAL_T, B_FINAL_T, TI_K)
    return lim["sudden_delta_temperature_k"], lim["isentropic_delta_temperature_k"]


def time_table():
    """One row per Ti of TABLE_TI_K: a dict of the table's values (temperatures in K, times in s)."""
    rows = []
    for ti in TABLE_TI_K:
        run = smmcool.simulate(
            b_initial_t=B_INITIAL_T,
            b_final_t=B_FINAL_T,
            initial_temperature_k=ti,
            sweep_rate_t_per_s=SWEEP_RATE_T_PER_S,
            sample_times_after_ramp_s=list(AFTER_RAMP_S),
        )
        t_eq = run.equilibrium_temperature_k
        rows.append(
            dict(
                initial_temperature_k=ti,
                sample_temperatures_k=[float(t) for t in run.sample_temperatures_k],
                # Fraction of the cooling this ramp leads to that has arrived.
                fractions=[(ti - float(t)) / (ti - t_eq) for t in run.sample_temperatures_k],
                equilibrium_temperature_k=t_eq,
                equilibrium_after_ramp_s=run.equilibrium_after_ramp_s,
                end_temperature_k=run.end_temperature_k,
                end_after_ramp_s=run.end_after_ramp_s,
                sudden_final_temperature_k=run.sudden_final_temperature_k,
            )
        )
    return rows


def write_csv(path, sudden, isentropic):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["initial_temperature_k", "sudden_delta_temperature_k", "isentropic_delta_temperature_k"])
        for row in zip(TI_K, sudden, isentropic):
            w.writerow([repr(float(x)) for x in row])


def plot(path, sudden, isentropic):
    """Fig. 6 as a PNG one journal column wide; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    cm = 1 / 2.54
    fig, ax = plt.subplots(figsize=(8.5 * cm, 6.5 * cm), dpi=300)
    # Okabe-Ito colours, with line style as the second cue.
    ax.plot(TI_K, sudden, color="#0072B2", lw=1.2, label="sudden quench (Eq. 9)")
    ax.plot(TI_K, isentropic, color="#D55E00", lw=1.2, ls="--", label="isentropic (Eq. 11)")
    ax.axhline(0.0, color="0.6", lw=0.5)
    ax.set_xlabel("initial temperature $T_i$ (K)", fontsize=8)
    ax.set_ylabel("$\\Delta T = T_f - T_i$ (K)", fontsize=8)
    ax.set_title(f"{B_INITIAL_T} T → {B_FINAL_T} T, Mn$_{{12}}$Ac", fontsize=8)
    ax.tick_params(labelsize=7)
    # The legend below the axes, never over the curves.
    ax.legend(fontsize=7, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def main() -> None:
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out, exist_ok=True)
    sudden, isentropic = fig6()
    write_csv(os.path.join(out, "fig6_sudden_vs_isentropic.csv"), sudden, isentropic)
    png = os.path.join(out, "fig6_sudden_vs_isentropic.png")
    drawn = plot(png, sudden, isentropic)
    k_s, k_q = int(np.argmin(sudden)), int(np.nanargmin(isentropic))
    print(f"Fig. 6 ({B_INITIAL_T} T -> {B_FINAL_T} T): deepest sudden Delta T = {sudden[k_s]:.4f} K "
          f"at Ti = {TI_K[k_s]:.1f} K; deepest isentropic Delta T = {isentropic[k_q]:.4f} K at Ti = {TI_K[k_q]:.1f} K")
    print(f"figure: {png}" if drawn else "figure: matplotlib is not installed (CSV written)")
    print()
    print(f"{SWEEP_RATE_T_PER_S:g} T/s, {B_INITIAL_T} T -> {B_FINAL_T} T")
    print("| Ti | T 1 s after | T 1 h after | T at equilibrium | reached after | sudden (Eq. 9) |")
    print("|---|---|---|---|---|---|")
    for r in time_table():
        (t1, th), (f1, fh) = r["sample_temperatures_k"], r["fractions"]
        if r["equilibrium_after_ramp_s"] is None:
            reached = f"> {r['end_after_ramp_s']:.0e} s (T = {r['end_temperature_k']:.3f} K there)"
        else:
            reached = f"{r['equilibrium_after_ramp_s']:.2g} s"
        print(f"| {r['initial_temperature_k']:g} K | {t1:.4f} K ({100 * f1:.1f} %) | {th:.4f} K ({100 * fh:.1f} %) "
              f"| {r['equilibrium_temperature_k']:.4f} K | {reached} | {r['sudden_final_temperature_k']:.4f} K |")


if __name__ == "__main__":
    main()
