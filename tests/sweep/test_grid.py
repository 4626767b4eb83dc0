"""The grid's run order: the costliest strategies start first."""

from hdfbench.config import load_config
from hdfbench.strategies import STRATEGIES
from hdfbench.sweep.grid import costliest_first, expand
from tests.helpers import EXPERIMENTS


def test_costliest_runs_start_first_and_equals_keep_grid_order():
    specs = expand(load_config(EXPERIMENTS / "quickstart.yaml", ["seeds=[0, 1]"]))
    ordered = [(s.strategy.name, s.seed) for s in costliest_first(specs)]
    assert ordered == [
        ("hdf", 0),
        ("hdf", 1),
        ("sam", 0),
        ("sam", 1),
        ("erm", 0),
        ("focal", 0),
        ("groupdro", 0),
        ("erm", 1),
        ("focal", 1),
        ("groupdro", 1),
    ]
    assert sorted(s.run_id for s in costliest_first(specs)) == sorted(s.run_id for s in specs)


def test_relative_costs_follow_the_passes_per_step():
    hdf, sam, erm = STRATEGIES.get("hdf"), STRATEGIES.get("sam"), STRATEGIES.get("erm")
    full = hdf.relative_cost(hdf.Hparams())
    assert full > sam.relative_cost(sam.Hparams()) == 2.0 > erm.relative_cost(erm.Hparams()) == 1.0
    without_sam = hdf.relative_cost(hdf.Hparams(sam=False))
    assert erm.relative_cost(erm.Hparams()) < without_sam < sam.relative_cost(sam.Hparams())
    assert hdf.relative_cost(hdf.Hparams(sam=False, dam=False, dsm=False)) == 1.0
