"""Runs described by TOML files: --config, --save-config, user presets, the window's
Save / Load parameters."""

import pytest

from lab import experiments
from lab.cli import main
from lab.configs import ConfigError, config_text, load_config, preset_names, resolve, user_preset_dir
from lab.runfile import read_header

CONFIG = """# the same run as the --set's below
x_cov = [10, 100, 0]
sigma2 = 2
noise = "redraw"
steps = 300
stride = "3"
"""
SETS = ["x_cov=10,100,0", "sigma2=2", "noise=redraw", "steps=300", "stride=3"]


def test_a_config_gives_the_same_params_as_the_equivalent_sets(tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text(CONFIG)
    ols = experiments.get("ols")
    assert resolve(ols, config=str(cfg)) == resolve(ols, overrides=ols.spec.parse_sets(SETS))
    assert main(["run", "ols", "--config", str(cfg), "--set", "sigma2=3", "--out", str(tmp_path)]) == 0
    params = read_header(capsys.readouterr().out.strip()).params
    assert params["sigma2"] == 3.0 and params["x_cov"] == [10.0, 100.0, 0.0] and params["steps"] == 300  # --set wins


@pytest.mark.parametrize(
    "text,words",
    [
        ("sigma_eps = 1\n", ["'sigma_eps' is not a parameter", "sigma2"]),
        ("sigma2 = -1\n", ["parameter 'sigma2'", "[0, 1e+06]"]),
        ("sigma2 = \n", ["not a valid TOML file"]),
    ],
)
def test_a_bad_config_names_the_key_and_the_file(tmp_path, capsys, text, words):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(str(cfg), experiments.get("ols").spec)
    assert str(e.value).startswith(f"{cfg}: ") and all(w in str(e.value) for w in words)
    assert main(["run", "ols", "--config", str(cfg), "--out", str(tmp_path / "runs")]) == 2
    assert str(cfg) in capsys.readouterr().err and not (tmp_path / "runs").exists()


def test_save_config_writes_what_config_reads_back(tmp_path, capsys):
    cfg = tmp_path / "saved.toml"
    assert main(["run", "ols", "--preset", "fig1-c", "--set", "steps=1234", "--save-config", str(cfg)]) == 0
    ols = experiments.get("ols")
    assert load_config(str(cfg), ols.spec) == resolve(ols, "fig1-c", overrides={"steps": 1234})
    assert not (tmp_path / "runs").exists()  # saved, not run
    assert config_text("x", {"s": 'a "q"', "f": 0.1, "b": True}).splitlines()[1:] == [
        's = "a \\"q\\""',
        "f = 0.1",
        "b = true",
    ]


def test_user_presets_appear_beside_the_built_in_ones(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "config" / "noiselab" / "presets" / "ols"
    assert user_preset_dir("ols") == str(folder)  # XDG_CONFIG_HOME (set by conftest) is respected
    folder.mkdir(parents=True)
    (folder / "mine.toml").write_text("sigma2 = 4\nsteps = 200\nstride = 2\n")
    (folder / "fig1-a.toml").write_text("sigma2 = 9\n")  # a built-in name: the built-in one wins
    ols = experiments.get("ols")
    assert preset_names(ols) == [*ols.presets, "mine"]
    assert main(["list", "ols"]) == 0
    assert f"user presets ({folder}): mine" in capsys.readouterr().out
    assert main(["run", "ols", "--preset", "mine", "--out", str(tmp_path)]) == 0
    path = capsys.readouterr().out.strip()
    assert read_header(path).params["sigma2"] == 4.0 and "-mine-" in path
    assert resolve(ols, "fig1-a") == resolve(ols, None, overrides=ols.presets["fig1-a"])


def test_the_window_saves_and_loads_the_form_as_a_config(qtbot, tmp_path, boxes):
    from widgets.experiment_tab import DEFAULTS, ExperimentTab

    folder = tmp_path / "config" / "noiselab" / "presets" / "ols"
    folder.mkdir(parents=True)
    (folder / "mine.toml").write_text("sigma2 = 4\n")
    ols = experiments.get("ols")
    tab = ExperimentTab(ols)
    qtbot.addWidget(tab)
    items = [tab.preset_box.itemText(i) for i in range(tab.preset_box.count())]
    assert items == [DEFAULTS, *ols.presets, "mine"]
    tab.apply_preset("mine")
    assert tab.form.values()["sigma2"] == 4.0
    tab.form.fields["lr"].set_value(0.02)
    cfg = tmp_path / "form.toml"
    tab.save_config(str(cfg))
    assert resolve(ols, config=str(cfg)) == tab.form.values()
    tab.apply_preset(DEFAULTS)
    tab.load_config(str(cfg))
    assert tab.form.values()["lr"] == 0.02 and tab.form.values()["sigma2"] == 4.0
    (tmp_path / "bad.toml").write_text("nosuch = 1\n")
    with pytest.raises(ConfigError, match="'nosuch'"):
        tab.load_config(str(tmp_path / "bad.toml"))
    assert tab.form.values()["lr"] == 0.02  # the form keeps what it had
