"""Parameter specs: validation messages, parsing, presets."""
import pytest

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


@pytest.mark.parametrize("name,value", [("lr", 2.0), ("lr", -0.1), ("lr", float("nan")), ("batch", 0),
                                        ("batch", 2.5), ("noise", "sometimes"), ("beta", [1.0]),
                                        ("plot", "yes"), ("batch", float("inf")), ("batch", float("nan")),
                                        ("beta", "12")])
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
