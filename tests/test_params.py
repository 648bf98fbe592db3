"""Parameter specs: validation messages, parsing, presets."""

import pytest

from lab import experiments
from lab.params import Param, ParamError, Spec, resolve_preset

SPEC = Spec(
    Param("lr", "float", 0.01, low=0.0, high=1.0, unit="1/step"),
    Param("batch", "int", 5, low=1, high=100),
    Param("noise", "choice", "fixed", choices=("fixed", "redraw")),
    Param("beta", "floats", [1.0, 1.0], length=2),
    Param("plot", "bool", True),
)


def test_defaults_validate():
    assert SPEC.validate({}) == {"lr": 0.01, "batch": 5, "noise": "fixed", "beta": [1.0, 1.0], "plot": True}


@pytest.mark.parametrize(
    "name,value",
    [
        ("lr", 2.0),
        ("lr", -0.1),
        ("lr", float("nan")),
        ("batch", 0),
        ("batch", 2.5),
        ("noise", "sometimes"),
        ("beta", [1.0]),
        ("plot", "yes"),
        ("batch", float("inf")),
        ("batch", float("nan")),
        ("beta", "12"),
    ],
)
def test_bad_value_names_parameter_and_range(name, value):
    with pytest.raises(ParamError) as e:
        SPEC.validate({name: value})
    assert f"'{name}'" in str(e.value) and repr(value) in str(e.value)
    assert SPEC[name].allowed() in str(e.value)


def test_numpy_numbers_are_accepted_as_plain_ones():
    import numpy as np

    vals = SPEC.validate({"lr": np.float32(0.5), "batch": np.int64(7), "beta": np.array([2, 3])})
    assert (vals["lr"], vals["batch"], vals["beta"]) == (0.5, 7, [2.0, 3.0])
    assert type(vals["batch"]) is int and type(vals["lr"]) is float


def test_range_in_message():
    with pytest.raises(ParamError, match=r"in \[0, 1\]"):
        SPEC.validate({"lr": 5})


def test_unknown_parameter():
    with pytest.raises(ParamError, match="unknown"):
        SPEC.validate({"lrr": 0.1})


def test_parse_sets_round_trip():
    vals = SPEC.parse_sets(["lr=0.5", "batch=10", "noise=redraw", "beta=2,3", "plot=false"])
    assert vals == {"lr": 0.5, "batch": 10, "noise": "redraw", "beta": [2.0, 3.0], "plot": False}
    for p in SPEC:
        assert p.parse(p.format(p.default)) == p.default


def test_parse_rejects_text():
    with pytest.raises(ParamError, match="'batch'"):
        SPEC.parse_sets(["batch=many"])
    with pytest.raises(ParamError):
        SPEC.parse_sets(["batch"])


def test_preset_then_overrides():
    presets = {"fast": {"lr": 0.1, "batch": 50}}
    v = resolve_preset(SPEC, presets, "fast", {"batch": 7})
    assert v["lr"] == 0.1 and v["batch"] == 7
    with pytest.raises(ParamError, match="fast"):
        resolve_preset(SPEC, presets, "slow")


def test_bad_default_is_caught_at_declaration():
    with pytest.raises(ParamError):
        Param("x", "int", 0, low=1)
    with pytest.raises(ValueError, match="duplicate"):
        Spec(Param("a", "int", 1), Param("a", "int", 2))


def test_list_kinds_check_every_element_and_name_the_parameter():
    widths = Param("mlp_widths", "ints", [256], low=1, high=4096)
    assert widths.parse("1024, 1024,512") == [1024, 1024, 512]
    assert widths.validate("64,32") == [64, 32]  # an older run file's text
    assert widths.format([64, 32]) == "64,32" and widths.parse(widths.format([64, 32])) == [64, 32]
    for bad in ("64,x", "64,0", "64,1.5", "", "64,,9999"):
        with pytest.raises(ParamError) as e:
            widths.parse(bad)
        assert e.value.name == "mlp_widths" and "integers separated by commas, each in [1, 4096]" in str(e.value)
    ms = Param("milestones", "ints", [15, 25], low=1, increasing=True, min_items=0)
    assert ms.parse("") == [] and ms.parse("100,150") == [100, 150]
    with pytest.raises(ParamError, match="increasing"):
        ms.parse("150,100")
    sig = Param("noise_sigmas", "floats", [0.1], low=0.0, high=10.0)
    assert sig.parse("0.05,0.1") == [0.05, 0.1]
    with pytest.raises(ParamError):
        sig.parse("0.1,nan")
    with pytest.raises(ParamError):
        sig.validate([0.1, 11.0])
    names = Param("corruptions", "strs", ["fog"], choices=("fog", "snow"))
    assert names.parse("fog, snow") == ["fog", "snow"]
    with pytest.raises(ParamError, match="from fog, snow"):
        names.parse("fog,rain")


def test_list_parameters_of_the_families_refuse_bad_elements_before_a_run(tmp_path):
    from lab.runner import run_experiment

    for name, text in (
        ("supervised", "mlp_widths=64,x"),
        ("supervised", "milestones=20,10"),
        ("distill", "noise_sigmas=0.1,-1"),
    ):
        spec = experiments.get(name).spec
        with pytest.raises(ParamError) as e:
            run_experiment(name, spec.parse_sets([text]), out_dir=str(tmp_path))
        assert e.value.name == text.split("=")[0]
    assert not list(tmp_path.iterdir())
