"""An operator built from a geometry no enabled simulator provides (the vessel-to-neuron operators
pass through the STEPS mesh): `msr check` names it, and `msr init` does not write one."""

from __future__ import annotations

import json

from click.testing import CliRunner

from multiscale_run.cli import main
from multiscale_run.coupling.operators import OPERATORS


def _init(sim, *flags):
    result = CliRunner().invoke(main, ["init", str(sim), "--neurons", "4", "--tstop", "10", *flags])
    assert result.exit_code == 0, result.output
    return json.loads((sim / "simulation_config.json").read_text())


def test_init_bloodflow_without_steps_writes_only_servable_couplings_and_reports(tmp_path):
    config = _init(tmp_path / "sim", "--bloodflow")
    msr = config["multiscale_run"]
    operators = [c["operator"] for c in msr["couplings"]]
    operators += [
        r.get("operator", "identity")
        for name in ("neuron", "bloodflow", "metabolism")
        for r in msr[name]["reports"]
    ]
    assert operators and all("tets" not in OPERATORS[op].requires for op in operators if op in OPERATORS)
    assert CliRunner().invoke(main, ["check", str(tmp_path / "sim")]).exit_code == 0
    # with STEPS the F_in coupling through the mesh is there
    with_steps = _init(tmp_path / "all", "--bloodflow", "--steps")["multiscale_run"]["couplings"]
    assert any(c["operator"] == "vessel_to_neuron_mean" for c in with_steps)


def test_check_names_a_coupling_and_a_report_whose_operator_needs_a_disabled_simulator(tmp_path):
    sim = tmp_path / "sim"
    config = _init(sim, "--bloodflow")
    msr = config["multiscale_run"]
    msr["couplings"].append(
        {
            "src": "bloodflow",
            "src_variable": "flow_ratio",
            "dest": "metabolism",
            "dest_variable": "F_in",
            "operator": "vessel_to_neuron_mean",
            "action": "set",
        }
    )
    msr["bloodflow"]["reports"].append(
        {"name": "flow_at_neurons", "variable": "flow_ratio", "operator": "vessel_to_neuron_mean"}
    )
    (sim / "simulation_config.json").write_text(json.dumps(config))
    result = CliRunner().invoke(main, ["check", str(sim)])
    assert result.exit_code == 2
    n = len(msr["couplings"]) - 1
    k = len(msr["bloodflow"]["reports"]) - 1
    for key in (f"multiscale_run.couplings[{n}].operator", f"multiscale_run.bloodflow.reports[{k}].operator"):
        line = next(ln for ln in result.stderr.splitlines() if f": {key}: " in ln)
        assert "vessel_to_neuron_mean is built from the tets geometry" in line and "steps" in line
    assert "Traceback" not in result.stderr
