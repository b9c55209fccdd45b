"""Make ``spikes.json``: neurodamus 4.2.9's spikes for ``bbp_sub_mini5``'s shipped simulation
config with ``protocol.json`` laid over it (its noise and hyperpolarizing inputs, a relative shot
noise, an Ornstein-Uhlenbeck input, spontaneous minis, the stochastic synapses with randomized
GABA_A rise times; non-zero stimulus, synapse and minis seeds). Not run by the tests; needs
neurodamus and NEURON in their own environment and neurodamus's mechanisms compiled with the
circuit's (without the circuit's VecStim.mod, which neurodamus's vecevent.mod also defines):

    python3 -m venv /tmp/nd-venv && /tmp/nd-venv/bin/pip install neurodamus==4.2.9 neuron==9.0.2
    cp .../neurodamus/data/mod/*.mod <circuit>/mod/*.mod mod/ && rm mod/VecStim.mod  (circuit's)
    PATH=/tmp/nd-venv/bin:$PATH nrnivmodl -incflags -DDISABLE_REPORTINGLIB mod
    NRNMECH_LIB_PATH=$PWD/x86_64/libnrnmech.so HOC_LIBRARY_PATH=.../neurodamus/data/hoc \
    /tmp/nd-venv/bin/python make_reference.py <circuits>/bbp_sub_mini5 spikes.json
"""

import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent


def config(root: Path, out: Path) -> dict:
    """The shipped config with the protocol laid over it, its paths absolute."""
    sim = json.loads((root / "simulation_config_mini.json").read_text())
    protocol = json.loads((HERE / "protocol.json").read_text())
    sim["network"] = str(root / "sub_mini5" / "circuit_config.json")
    sim["manifest"] = {"$OUTPUT_DIR": str(out), "$INPUT_DIR": str(out)}
    sim["output"] = {"output_dir": str(out / "output")}
    sim["run"].update(protocol["run"])
    sim["conditions"].update(protocol["conditions"])
    sim["inputs"].update(protocol["inputs"])
    sim["connection_overrides"] = protocol["connection_overrides"]
    sim["reports"] = {}
    return sim


def main(root: Path, out: Path) -> None:
    from neurodamus import Neurodamus

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "simulation_config.json"
        path.write_text(json.dumps(config(root, Path(tmp))))
        nd = Neurodamus(str(path), disable_reports=True)
        nd.run(cleanup=False)
        times, ids = (list(v) for v in nd._spike_vecs[0])
    spikes = {str(g): sorted(t for t, i in zip(times, ids, strict=True) if int(i) == g) for g in range(5)}
    out.write_text(json.dumps({"neurodamus": "4.2.9", "neuron": "9.0.2", "spikes": spikes}, indent=1) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
