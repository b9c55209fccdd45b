"""The variables the enabled simulators declare (from the registry, without building them)."""

from __future__ import annotations

from multiscale_run.config.model import Config
from multiscale_run.config.problems import Problem


def declared_variables(config: Config, problems: list[Problem]) -> dict[str, dict]:
    """Declared variables of every enabled simulator (an adapter that cannot load is a problem)."""
    from multiscale_run.simulators.catalogue import declared_variables

    out = {}
    for name in config.simulators:
        try:
            out[name] = declared_variables(name, config.simulator(name))
        except ImportError as exc:
            problems.append(
                config.problem(
                    f"multiscale_run.{name}.enabled",
                    f"the {name} simulator is not available: {exc}",
                    "install it with ./install.sh, or set enabled to false",
                )
            )
    return out


def check_variable(config, variables, sim, var, where, problems, writable=False):
    if sim not in variables:
        return None
    declared = variables[sim]
    if var not in declared:
        problems.append(
            config.problem(where, f"{sim} has no variable {var!r}", f"one of: {', '.join(sorted(declared))}")
        )
        return None
    if writable and not declared[var].writable:
        problems.append(config.problem(where, f"{sim} variable {var!r} is read-only", "a writable variable"))
    return declared[var]
