"""Config loading: every experiment YAML validates; errors name file, line, key path, allowed values."""

import pytest
import yaml

from hdfbench.cli import main
from hdfbench.config import ConfigError, load_config, smoke
from tests.helpers import EXPERIMENTS

ALL_EXPERIMENTS = sorted(EXPERIMENTS.glob("*.yaml"))


@pytest.mark.parametrize("path", ALL_EXPERIMENTS, ids=lambda p: p.name)
def test_every_experiment_validates(path, capsys):
    code = main(["validate", str(path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"{path}: OK" in out


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


BASE = """\
experiment: x
datasets:
  - name: synthetic
strategies:
  - name: erm
"""


def problems(tmp_path, text):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    return str(info.value)


def test_unknown_key_reports_line_path_and_allowed_keys(tmp_path):
    message = problems(tmp_path, BASE + "training:\n  epochz: 3\n")
    assert "c.yaml:7: training.epochz: unknown key (allowed: epochs, batch_size" in message


def test_unknown_names_list_allowed_values(tmp_path):
    message = problems(tmp_path, BASE.replace("erm", "ermm") + "model: {backbone: resnet}\n")
    assert "c.yaml:5: strategies[0].name: unknown strategy 'ermm'; allowed: chi2_dro, cvar, erm, focal" in message
    assert (
        "c.yaml:6: model.backbone: unknown backbone 'resnet'; "
        "allowed: r2plus1d_18, r3d_18, x3d_m, x3d_s, x3d_tiny, x3d_xs" in message
    )


def test_wrong_types_and_ranges_and_literals(tmp_path):
    message = problems(tmp_path, BASE + "training:\n  epochs: 0\n  device: tpu\nseeds: [1, 1]\n")
    assert "training.epochs: Input should be greater than or equal to 1" in message
    assert "training.device: Input should be 'auto', 'cpu' or 'cuda'" in message
    assert "seeds: Value error, values must be unique" in message


def test_component_options_are_validated_against_their_schema(tmp_path):
    text = BASE.replace("  - name: synthetic\n", "  - name: synthetic\n    options: {n_clips: 10, colour: red}\n")
    message = problems(tmp_path, text + "folds: [6]\n")
    assert "datasets[0].options.colour: unknown key (allowed: n_clips" in message
    assert "datasets[0].options.n_clips: Input should be greater than or equal to 35" in message
    assert "folds: dataset 'synthetic' has no fold [6] (allowed: [1, 2, 3, 4, 5])" in message


def test_duplicate_variants_and_duplicate_keys(tmp_path):
    message = problems(tmp_path, BASE + "  - name: erm\nexperiment: y\n")
    assert "strategy variants must be unique; repeated: ['erm']" in message
    assert "c.yaml:7: experiment: duplicate key" in message


def test_invalid_yaml_and_missing_file(tmp_path):
    assert "not valid YAML" in problems(tmp_path, "experiment: [unclosed\n")
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "absent.yaml")


def test_cli_exit_code_2_and_one_message_on_stderr(tmp_path, capsys):
    assert main(["validate", str(write(tmp_path, BASE + "training: {epochs: -3}\n"))]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: invalid experiment config") and "training.epochs" in err
    assert "Traceback" not in err


def test_run_with_bad_config_exits_2_before_writing_anything(tmp_path, capsys):
    path = write(tmp_path, BASE + f"output_dir: {tmp_path / 'out'}\ntraining: {{epochs: nope}}\n")
    assert main(["run", str(path)]) == 2
    assert "training.epochs" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_overrides_are_validated_too(tmp_path):
    config = load_config(write(tmp_path, BASE), ["training.epochs=3", "datasets.0.options.n_clips=100"])
    assert config.training.epochs == 3 and config.datasets[0].options == {"n_clips": 100}
    with pytest.raises(ConfigError, match="training.epochs"):
        load_config(write(tmp_path, BASE), ["training.epochs=-1"])


def test_smoke_shrinks_to_cpu_and_tiny_data():
    config = smoke(load_config(EXPERIMENTS / "dfew_sweep.yaml", ["model.options.pretrained=null"]))
    assert config.training.device == "cpu" and config.resources.gpu == 0
    assert config.model.backbone == "x3d_tiny" and config.training.epochs == 2
    assert len(config.folds) == 1 and len(config.seeds) == 1
    assert config.datasets[0].options["size"] == 32
    # with pretrained weights the smoke run keeps the backbone they fit (and so checks the weights too)
    pretrained = smoke(load_config(EXPERIMENTS / "dfew_sweep.yaml"))
    assert pretrained.model.backbone == "x3d_s" and pretrained.model.options["pretrained"].endswith(
        "weights/x3d_s_kinetics400.pyth"
    )
    assert pretrained.datasets[0].options["size"] == 32 and pretrained.training.epochs == 2


def test_resolved_config_round_trips(tmp_path):
    config = load_config(write(tmp_path, BASE))
    dumped = write(tmp_path, yaml.safe_dump(config.model_dump(mode="json")))
    assert load_config(dumped) == config


def test_relative_paths_become_absolute_in_the_run_specs(tmp_path, monkeypatch):
    """Ray trials run in their own directories: data roots, weights and the cache must not be relative."""
    from hdfbench.sweep.grid import expand

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HDFBENCH_CACHE", "cache-here")
    config = load_config(EXPERIMENTS / "dfew_synthetic.yaml", ["model.options.pretrained=weights/x3d.pyth"])
    spec = expand(config)[0]
    assert spec.dataset.options["root"] == str(tmp_path / "data" / "dfew_synthetic")
    assert spec.model.options["pretrained"] == str(tmp_path / "weights" / "x3d.pyth")
    assert spec.cache_dir == str(tmp_path / "cache-here")


def test_settings_that_contradict_each_other_are_reported_with_their_lines(tmp_path):
    message = problems(tmp_path, BASE + "training:\n  device: cuda\nray:\n  address: 10.0.0.1:6379\n")
    assert "c.yaml:7: training.device: 'cuda' needs resources.gpu > 0" in message
    assert "tracking.uri: a sqlite store" in message and "run an MLflow tracking server" in message
    outside = BASE + (
        "ray: {address: ray://h:10001}\ntracking: {uri: 'sqlite:////elsewhere/m.db', "
        "allow_shared_sqlite: true}\noutput_dir: s3://bucket/results\n"
    )
    message = problems(tmp_path, outside)
    assert "ray.address: Ray Client (ray://) is not supported" in message
    assert "tracking.uri: the sqlite file /elsewhere/m.db is not under output_dir" in message
    assert "output_dir: must be a folder path on storage every node mounts" in message
    fine = BASE + "ray: {address: '10.0.0.1:6379'}\ntracking: {uri: 'http://10.0.0.1:5000'}\n"
    assert load_config(write(tmp_path, fine)).ray.max_failures == 2


def test_smoke_says_what_it_changed():
    from hdfbench.config import changed_settings

    config = load_config(EXPERIMENTS / "dfew_sweep.yaml")
    changes = changed_settings(config, smoke(config))
    assert "training.device: cuda → cpu" in changes and "resources.gpu: 1.0 → 0.0" in changes
    assert "folds: [1, 2, 3, 4, 5] → [1]" in changes


def test_shipped_modules_must_exist(tmp_path):
    (tmp_path / "mine").mkdir()
    fine = BASE + f"ray: {{py_modules: [{tmp_path / 'mine'}]}}\n"
    assert load_config(write(tmp_path, fine)).ray.py_modules == [str(tmp_path / "mine")]
    message = problems(tmp_path, BASE + "ray: {py_modules: [/no/such/folder]}\n")
    assert "ray.py_modules: Value error, not a package folder, .py file or .whl file: /no/such/folder" in message


def test_class_weights_are_a_named_reweight_option(tmp_path):
    from hdfbench.config import StrategySpec

    spec = StrategySpec(name="erm", balance="reweight", class_weights="effective_number", beta=0.99)
    raw = [(1 - 0.99) / (1 - 0.99**n) for n in (100, 10, 1)]
    assert spec.balancing.class_weights([100, 10, 1]).tolist() == pytest.approx([3 * r / sum(raw) for r in raw])
    assert spec.label == "erm+reweight_effective_number_0.99"
    assert StrategySpec(name="erm", balance="reweight").balancing.class_weights([2, 1]).tolist() == pytest.approx(
        [2 / 3, 4 / 3]
    )
    assert StrategySpec(name="erm").balancing.class_weights([2, 1]) is None
    message = problems(tmp_path, BASE.replace("- name: erm", "- name: erm\n    class_weights: effective_number"))
    assert "class_weights only apply with balance: reweight (balance is 'none')" in message


def test_run_ids_of_published_runs_survive_later_settings():
    # ids computed before strategy entries gained class_weights/beta and HDF's dsm gained `features`:
    # settings added later count only when they differ from their defaults, so finished runs stay done
    from hdfbench.sweep.grid import expand

    hdf = {s.run_id for s in expand(load_config(EXPERIMENTS / "hdf_ablation.yaml"))}
    assert {"synthetic-f1-s0-hdf_full-be6673bf", "synthetic-f1-s0-hdf_no_dam-e342a9b8"} <= hdf
    baselines = {s.run_id for s in expand(load_config(EXPERIMENTS / "imbalance_baselines.yaml"))}
    assert {
        "synthetic-f1-s0-erm+reweight-f72633b0",
        "synthetic-f1-s0-groupdro_source-72cf735d",
        "synthetic-f1-s0-logit_adjustment-4debf5ca",
        "synthetic-f1-s0-cvar-fbfe6e2c",
    } <= baselines


def test_the_memory_layout_does_not_change_run_ids(tmp_path):
    # channels_last changes rounding, not the method (like the thread count): a run keeps its id across it
    from hdfbench.sweep.grid import expand

    config = load_config(EXPERIMENTS / "quickstart.yaml")
    assert config.training.channels_last == "auto"
    ids = {
        setting: [
            s.run_id
            for s in expand(load_config(EXPERIMENTS / "quickstart.yaml", [f"training.channels_last={setting}"]))
        ]
        for setting in ("auto", "true", "false")
    }
    assert ids["auto"] == ids["true"] == ids["false"] == [s.run_id for s in expand(config)]
    other = [s.run_id for s in expand(load_config(EXPERIMENTS / "quickstart.yaml", ["training.precision=bf16"]))]
    assert not set(other) & set(ids["auto"])  # precision does change them
