"""Parameters in files: a run described by a TOML file, and user presets.

A config file is a flat TOML table of parameter names, the same names as ``--set``::

    # noiselab run ols --config run.toml
    steps = 200000
    lr = 0.05
    x_cov = [10.0, 100.0, 0.0]     # or "10,100,0", as on the command line
    batching = "iid"

Values are TOML numbers, booleans, strings or arrays, or the text ``--set`` takes. A
name the experiment does not have, or a value it does not allow, is an error naming the
key and the file. User presets are such files in
``$XDG_CONFIG_HOME/noiselab/presets/<experiment>/<preset>.toml`` (default
``~/.config``); they appear beside the built-in presets, which win a name clash.
"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any, Container, Mapping

from .params import ParamError, Spec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


class ConfigError(ValueError):
    """A config or preset file that cannot be read or names a bad parameter."""


def user_preset_dir(experiment: str) -> str:
    """Where ``experiment``'s user presets live (``$XDG_CONFIG_HOME`` respected)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "noiselab", "presets", experiment)


def load_config(path: str, spec: Spec) -> dict:
    """The validated values a config file sets (only those it names)."""
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"{path}: cannot be read ({e.strerror or e})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not a valid TOML file ({e})") from None
    out = {}
    for key, value in doc.items():
        if key not in spec:
            raise ConfigError(
                f"{path}: '{key}' is not a parameter of this experiment; expected one of {', '.join(spec.names)}"
            )
        param = spec[key]
        try:
            out[key] = param.parse(value) if isinstance(value, str) else param.validate(value)
        except ParamError as e:
            raise ConfigError(f"{path}: {e}") from None
    return out


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(str(v))  # a JSON string with its escapes is a TOML basic string


def config_text(experiment: str, values: Mapping[str, Any]) -> str:
    """A config file holding ``values``, readable by :func:`load_config`."""
    lines = [f"# noiselab run {experiment} --config <this file>"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


def save_config(path: str, experiment: str, values: Mapping[str, Any]) -> None:
    """Write ``values`` as a config file (replacing ``path`` only once it is complete)."""
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "w") as f:
            f.write(config_text(experiment, values))
        os.replace(tmp, path)
    except OSError as e:
        raise ConfigError(f"{path}: cannot be written ({e.strerror or e})") from None


def user_presets(experiment: str, builtin: Container[str] = ()) -> dict[str, str]:
    """User preset name -> file, sorted; names of built-in presets are left out."""
    folder = user_preset_dir(experiment)
    if not os.path.isdir(folder):
        return {}
    names = sorted(f[:-5] for f in os.listdir(folder) if f.endswith(".toml"))
    return {n: os.path.join(folder, n + ".toml") for n in names if n not in builtin}


def preset_names(exp) -> list[str]:
    """Built-in presets, then the user's."""
    return [*exp.presets, *user_presets(exp.name, exp.presets)]


def preset_values(exp, name: str) -> dict:
    """The values preset ``name`` sets (built-in or a user's file)."""
    if name in exp.presets:
        return dict(exp.presets[name])
    files = user_presets(exp.name, exp.presets)
    if name not in files:
        raise ParamError("preset", name, "one of " + ", ".join(preset_names(exp)))
    return load_config(files[name], exp.spec)


def resolve(
    exp, preset: str | None = None, config: str | None = None, overrides: Mapping[str, Any] | None = None
) -> dict:
    """Defaults, then the preset, then the config file, then ``overrides`` (``--set``);
    validated and checked."""
    values = exp.spec.defaults()
    if preset:
        values.update(preset_values(exp, preset))
    if config:
        values.update(load_config(config, exp.spec))
    values.update(overrides or {})
    return exp.validate(values)
