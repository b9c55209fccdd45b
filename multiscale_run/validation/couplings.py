"""Semantic checks of the couplings: endpoints, variables, operators, actions, transforms, periods."""

from __future__ import annotations

from multiscale_run.config.model import Config
from multiscale_run.config.problems import Problem
from multiscale_run.validation.variables import check_variable


def check_couplings(config: Config, variables: dict, problems: list[Problem]) -> None:
    """Endpoints enabled, variables declared (writable where written), operator spaces matching,
    merges able to write back, transforms safe and in the right units, periods whole."""
    from multiscale_run.coupling.operator_specs import OPERATORS

    enabled = set(config.simulators)
    for i, c in enumerate(config.couplings):
        at = f"multiscale_run.couplings[{i}]"
        for end in ("src", "dest"):
            if c[end] not in enabled:
                problems.append(
                    config.problem(
                        f"{at}.{end}",
                        f"simulator {c[end]!r} is not enabled",
                        f"one of the enabled simulators: {', '.join(config.simulators)}",
                    )
                )
        src = check_variable(
            config,
            variables,
            c["src"],
            c["src_variable"],
            f"{at}.src_variable",
            problems,
            writable=c["action"] == "merge",
        )
        dest = check_variable(
            config, variables, c["dest"], c["dest_variable"], f"{at}.dest_variable", problems, writable=True
        )
        op = OPERATORS.get(c["operator"])
        if op is None:
            problems.append(
                config.problem(
                    f"{at}.operator",
                    f"unknown operator {c['operator']!r}",
                    f"one of: {', '.join(sorted(OPERATORS))}",
                )
            )
        elif reason := op.missing_geometry(enabled):
            problems.append(
                config.problem(f"{at}.operator", reason, "an operator the enabled simulators serve")
            )
        elif src is not None and dest is not None:
            if c["operator"] == "identity":
                if src.space != dest.space:
                    problems.append(
                        config.problem(
                            f"{at}.operator",
                            f"identity cannot map {src.space.value} to {dest.space.value}",
                            "an operator between these spaces",
                        )
                    )
            elif (op.src, op.dest) != (src.space, dest.space):
                problems.append(
                    config.problem(
                        f"{at}.operator",
                        f"{c['operator']} maps {op.src.value} to {op.dest.value}, but "
                        f"{c['src']}.{c['src_variable']} lives on {src.space.value} and "
                        f"{c['dest']}.{c['dest_variable']} on {dest.space.value}",
                        f"an operator from {src.space.value} to {dest.space.value}",
                    )
                )
        if c["action"] == "merge" and op is not None and c["operator"] != "identity" and not op.writeback:
            problems.append(
                config.problem(
                    f"{at}.operator",
                    f"merge needs to write back to its source, and {c['operator']} has no "
                    "write-back operator",
                    "an operator with a write-back (e.g. a mean)",
                )
            )
        if c["action"] == "merge" and c.get("transform"):
            problems.append(
                config.problem(
                    f"{at}.transform",
                    "a merge cannot have a transform: its value is written to both sides",
                    "no transform; both variables in the same unit",
                )
            )
        elif c.get("transform"):
            _check_transform(config, c, at, src, dest, problems)
        if "ndts" in c and c["dest"] in enabled:
            dest_ndts = config.simulator(c["dest"])["ndts"]
            if c["ndts"] % dest_ndts:
                problems.append(
                    config.problem(
                        f"{at}.ndts",
                        f"period {c['ndts']} is not a multiple of the destination's ndts {dest_ndts}",
                        f"a multiple of {dest_ndts}",
                    )
                )


def _check_transform(config, c, at, src, dest, problems) -> None:
    """A transform is a named conversion whose units the coupled variables carry, or a safe expression."""
    from multiscale_run.coupling.conversions import CONVERSIONS, transform
    from multiscale_run.coupling.transform import TransformError
    from multiscale_run.validation.transform_probe import transform_problem

    try:
        parsed = transform(c["transform"])
    except TransformError as exc:
        problems.append(config.problem(f"{at}.transform", str(exc), "a safe expression of vals and dt_ms"))
    else:  # safe: does it compute on the source's values?
        if problem := transform_problem(config, c, parsed, f"{at}.transform"):
            problems.append(problem)
    conversion = CONVERSIONS.get(c["transform"].strip())
    if conversion is None:
        return
    for end, var, unit in (("src", src, conversion.src_unit), ("dest", dest, conversion.dest_unit)):
        if var is not None and var.unit != unit:
            problems.append(
                config.problem(
                    f"{at}.transform",
                    f"{conversion.name} converts {conversion.src_unit} to {conversion.dest_unit}, but "
                    f"{c[end]}.{c[end + '_variable']} is in {var.unit}",
                    f"a {end} variable in {unit}",
                )
            )


def check_constraints(config: Config, warnings: list[Problem]) -> None:
    """An averaging operator on an extensive quantity, or a distributing one on an intensive
    quantity, is most likely a mistake (molecules averaged, concentrations summed): a warning."""
    from multiscale_run.coupling.operator_specs import OPERATORS
    from multiscale_run.spaces import Kind
    from multiscale_run.validation.variables import declared_variables

    variables = declared_variables(config, [])
    wrong = {"consistent": Kind.EXTENSIVE, "conservative": Kind.INTENSIVE}
    for i, c in enumerate(config.couplings):
        var = variables.get(c["src"], {}).get(c["src_variable"])
        op = OPERATORS.get(c["operator"])
        if var is None or op is None or op.constraint is None or var.kind is not wrong[op.constraint]:
            continue
        fitting = "conservative" if op.constraint == "consistent" else "consistent"
        warnings.append(
            config.problem(
                f"multiscale_run.couplings[{i}].operator",
                f"{c['operator']} is {op.constraint}, but {c['src']}.{c['src_variable']} is {var.kind.value}",
                f"a {fitting} operator",
            )
        )
