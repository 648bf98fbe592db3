"""A minimal experiment used to test the core (runner, run file, statuses) without any
science: it logs ``loss = 1/(k+1)`` and can be told to fail, blow up or run slowly."""

import time

import numpy as np

from lab import experiments
from lab.context import scalar_series
from lab.experiments import Experiment
from lab.experiments._common import RUN_PARAMS
from lab.params import Param, Spec
from lab.runfile import Dataset

SPEC = Spec(
    Param("steps", "int", 100, low=1, high=10**7),
    Param("mode", "choice", "ok", choices=("ok", "fail", "nan", "slow")),
    *RUN_PARAMS,
)


def layout(params):
    return scalar_series("loss") + [Dataset("data/x", (3,), growable=False)]


def run(params, ctx):
    ctx.save("data/x", np.arange(3.0))
    for k in range(params["steps"]):
        if ctx.cancelled:
            break
        loss = 1.0 / (k + 1)
        if params["mode"] == "fail" and k == params["steps"] // 2:
            raise RuntimeError("the experiment broke on purpose")
        if params["mode"] == "nan" and k == params["steps"] // 2:
            loss = float("nan")
        if not np.isfinite(loss):
            from lab.context import Diverged

            raise Diverged(k, "loss is NaN")
        ctx.log(k, loss=loss)
        ctx.summary["last_loss"] = loss
        ctx.progress(k + 1, params["steps"])
        if params["mode"] == "slow":
            time.sleep(0.002)
    ctx.save("final/w", np.ones(4))
    return {"last_loss": ctx.summary.get("last_loss")}


EXPERIMENT = Experiment(
    name="fake",
    title="Fake experiment for core tests",
    spec=SPEC,
    layout=layout,
    run=run,
    presets={"short": {"steps": 10}},
)


def install():
    """Register this module's experiment as ``fake``."""
    return experiments.register(EXPERIMENT, __name__)
