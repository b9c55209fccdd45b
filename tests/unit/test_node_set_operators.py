"""SONATA node-set operators (``$regex``, ``$gt``, ``$lt``, ``$gte``, ``$lte``) against
libsonata's own ``NodeSets.materialize`` on the shipped BBP and bmtk circuits (nodes nobody here
wrote); a wrong type is an error naming the node set."""

from __future__ import annotations

import json
from pathlib import Path

import libsonata
import numpy as np
import pytest

from multiscale_run.circuit.node_sets import materialize
from multiscale_run.circuit.sonata import Circuit
from multiscale_run.errors import UserError

CIRCUITS = Path(__file__).resolve().parents[3] / "shared" / "data" / "circuits"
BBP = CIRCUITS / "bbp_sub_mini5" / "sub_mini5"
BMTK = CIRCUITS / "bmtk_bio_14cells"
pytestmark = pytest.mark.skipif(not BBP.is_dir(), reason="the shared circuits are not installed")

#: rules on the BBP population "default" (strings, @library enumerations, floats, integers)
BBP_SETS = {
    "regex_mtype": {"population": "default", "mtype": {"$regex": "L23_.*"}},
    "regex_part": {"population": "default", "mtype": {"$regex": "23"}},  # anywhere in the value
    "regex_anchored": {"population": "default", "mtype": {"$regex": "^L23$"}},
    "regex_case": {"population": "default", "mtype": {"$regex": "l23"}},
    "regex_class": {"population": "default", "mtype": {"$regex": "L1_(HAC|DAC)"}},
    "regex_enum": {"population": "default", "synapse_class": {"$regex": "E.C"}},
    "regex_etype": {"population": "default", "etype": {"$regex": "c.*"}},
    "gt_x": {"population": "default", "x": {"$gt": 277.982231}},
    "gte_x": {"population": "default", "x": {"$gte": 277.982231}},
    "lt_y": {"population": "default", "y": {"$lt": 1833.482343}},
    "lte_y": {"population": "default", "y": {"$lte": 1833.482343}},
    "lte_layer": {"population": "default", "layer": {"$lte": 1}},
    "gt_layer_float": {"population": "default", "layer": {"$gt": 1.5}},
    "with_ids": {"population": "default", "node_id": [0, 2, 3, 4], "orientation_w": {"$gt": 0.6}},
    "two_ops": {"population": "default", "mtype": {"$regex": ".*PC"}, "z": {"$lt": 690.0}},
    "compound": ["regex_class", "lte_y"],
}
BMTK_SETS = {
    "lgn_x": {"population": "lgn", "x": {"$gte": 120.0}},
    "lgn_band": {"population": "lgn", "y": {"$lt": 40.0}},
}


def _oracle(sets: dict, name: str, storage: Path, population: str) -> np.ndarray:
    pop = libsonata.NodeStorage(str(storage)).open_population(population)
    return libsonata.NodeSets(json.dumps(sets)).materialize(name, pop).flatten()


@pytest.mark.parametrize("name", sorted(BBP_SETS))
def test_bbp_node_sets_match_libsonata(name):
    circuit = Circuit(BBP / "circuit_config.json")
    found = materialize(name, circuit, BBP_SETS).get("default", np.zeros(0, np.int64))
    expected = _oracle(BBP_SETS, name, BBP / "default" / "nodes.h5", "default")
    np.testing.assert_array_equal(found, expected)


def test_the_bbp_rules_select_something_and_not_everything():
    circuit = Circuit(BBP / "circuit_config.json")
    sizes = {len(materialize(n, circuit, BBP_SETS).get("default", [])) for n in BBP_SETS}
    assert {0, 2, 3} <= sizes  # the rules discriminate


@pytest.mark.skipif(not BMTK.is_dir(), reason="the shared bmtk circuit is not installed")
@pytest.mark.parametrize("name", sorted(BMTK_SETS))
def test_bmtk_node_sets_match_libsonata(name):
    circuit = Circuit(BMTK / "config.circuit.json")
    found = materialize(name, circuit, BMTK_SETS).get("lgn", np.zeros(0, np.int64))
    expected = _oracle(BMTK_SETS, name, BMTK / "network" / "lgn_nodes.h5", "lgn")
    assert 0 < len(expected) < 90
    np.testing.assert_array_equal(found, expected)


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ({"layer": {"$regex": "1"}}, "$regex needs a string pattern and a string attribute, 'layer' is not"),
        ({"mtype": {"$gt": 1}}, "$gt needs a number and a numeric attribute, 'mtype' is not"),
        ({"x": {"$lt": "300"}}, "$lt needs a number"),
        ({"x": {"$gt": 0, "$lt": 5}}, "is not one operator of $regex, $gt, $lt, $gte, $lte"),
        ({"x": {"$eq": 0}}, "is not one operator"),
        ({"mtype": {"$regex": "L23_("}}, "$regex 'L23_(' is not valid"),
    ],
)
def test_a_wrong_operator_names_the_node_set(rule, words):
    circuit = Circuit(BBP / "circuit_config.json")
    with pytest.raises(UserError) as err:
        materialize("bad", circuit, {"bad": {"population": "default", **rule}})
    assert err.value.message.startswith("node set 'bad': ") and words in err.value.message
