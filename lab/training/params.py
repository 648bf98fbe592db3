"""Training parameters every network experiment includes in its SPEC."""

from __future__ import annotations

from ..params import Param

G = "Training"
OPTIM_PARAMS = (
    Param("lr", "float", 0.1, low=1e-8, high=1e4, log=True, group=G, help="SGD learning rate (initial)."),
    Param("momentum", "float", 0.9, low=0.0, high=0.999, group=G, help="SGD momentum."),
    Param(
        "weight_decay",
        "float",
        5e-4,
        low=0.0,
        high=1.0,
        group=G,
        help="L2 weight decay added to the gradient (coupled, PyTorch SGD).",
    ),
    Param("epochs", "int", 30, low=1, high=10000, unit="epochs", group=G, help="Passes over the training split."),
    Param("batch", "int", 128, low=1, high=65536, group=G, help="Mini-batch size."),
    Param(
        "schedule",
        "choice",
        "multistep",
        choices=("multistep", "cosine", "constant"),
        group=G,
        help="Learning-rate schedule, stepped per epoch: multistep multiplies by gamma at the "
        "milestones; cosine anneals to 0 at the last epoch.",
    ),
    Param(
        "milestones",
        "ints",
        [15, 25],
        low=1,
        high=100_000,
        increasing=True,
        min_items=0,
        unit="epochs",
        group=G,
        help="Epochs (comma separated) at which multistep multiplies the rate by gamma.",
    ),
    Param("gamma", "float", 0.1, low=1e-6, high=1.0, group=G, help="Multistep factor."),
    Param(
        "stop_train_acc",
        "float",
        0.0,
        low=0.0,
        high=1.0,
        group=G,
        help="Stop early once the training accuracy (eval mode, labels trained on) reaches this "
        "fraction, e.g. 1 = 'trained to 100% train accuracy'; 0 = always run all epochs.",
    ),
)
PERF_PARAMS = (
    # on by default: on CUDA both cut the epoch time of the CIFAR networks (benchmarks/bench_elr.py)
    Param(
        "channels_last",
        "bool",
        True,
        group="Performance",
        help="Channels-last memory format for convolutions (CUDA only; ignored on CPU).",
    ),
    Param(
        "bf16",
        "bool",
        True,
        group="Performance",
        help="bfloat16 autocast for the forward pass (CUDA only; ignored on CPU).",
    ),
    Param(
        "compile",
        "bool",
        False,
        group="Performance",
        help="torch.compile the network (its warm-up, the first steps, is reported as "
        "compile_warmup_s in the summary and counted in the first epoch's time).",
    ),
)
TRAINING_PARAMS = OPTIM_PARAMS + PERF_PARAMS

#: the papers' training schedules, shared by the teachers' and the students' presets:
#: noisy self-distillation (label-noise SGD paper, Sec. 5: ResNet-56, SGD 0.9, batch 64,
#: lr 0.1 divided by 10 at epochs 100 and 150, weight decay 1e-4, 80/20 train/validation)
SELF_DISTILLATION_SCHEDULE = {
    "lr": 0.1,
    "momentum": 0.9,
    "weight_decay": 1e-4,
    "epochs": 200,
    "batch": 64,
    "schedule": "multistep",
    "milestones": [100, 150],
    "gamma": 0.1,
    "train_fraction": 0.8,
}
#: noise as a resource in distillation (WRN-40-2 -> WRN-16-2: batch 128, lr 0.1 times 0.2
#: at epochs 60, 120 and 150, weight decay 5e-4)
NOISE_RESOURCE_SCHEDULE = {
    "lr": 0.1,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "epochs": 200,
    "batch": 128,
    "schedule": "multistep",
    "milestones": [60, 120, 150],
    "gamma": 0.2,
}
