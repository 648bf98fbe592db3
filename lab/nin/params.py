"""Parameters of the linear NIN model shared by ``nin-toy`` and ``nin-phase-map``."""

from __future__ import annotations

from ..params import Param

G = "Model"
MODEL_PARAMS = (
    Param("M", "float", 1.0, low=-100, high=100, group=G, help="Target slope: y = M x."),
    Param("sigma_x", "float", 1.0, low=1e-6, high=1e3, group=G, log=True, help="Input scale: x ~ N(0, sigma_x^2)."),
    Param("lr", "float", 0.01, low=1e-8, high=10, group="SGD", log=True, help="SGD step size (eta)."),
    Param(
        "batch",
        "int",
        32,
        low=1,
        high=100000,
        group="SGD",
        help="Mini-batch size |B| (indices drawn i.i.d. each step).",
    ),
    Param("n_samples", "int", 1000, low=1, high=10_000_000, group="SGD", help="Training-set size m."),
    Param("steps", "int", 10000, low=1, high=10_000_000, group="SGD", help="Number of SGD steps."),
    Param(
        "w0_0", "float", 0.1, low=-1e3, high=1e3, group="Initial weights", help="w0(0): data weight of the first layer."
    ),
    Param("w1_0", "float", 1.0, low=-1e3, high=1e3, group="Initial weights", help="w1(0): weight of the second layer."),
    Param("w_NI0", "float", 0.1, low=-1e3, high=1e3, group="Initial weights", help="w_NI(0): noise-injection weight."),
    Param(
        "noise_timing",
        "choice",
        "redraw",
        choices=("redraw", "fixed"),
        group="Noise",
        help="redraw: fresh eps for every sample used; fixed: one eps per training sample, drawn once.",
    ),
)
