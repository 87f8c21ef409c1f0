"""Pushing routers to a fake Hub (real cache layout, HF_HUB_OFFLINE) and loading them back by repo id."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from huggingface_hub import ModelCard, hf_hub_download, metadata_load
from hub_fakes import QUERIES, calibrate_for_tests, install_fake_hub
from safetensors import safe_open
from transformers import AutoModel, pipeline

from consroute_hf import ConsRouterForTierSelection, cli
from consroute_hf.hub import export_for_hub, push_router
from consroute_hf.model_card import render_model_card

DEVICE_LM_REPO = "org/tiny-device-lm"
PNG = b"\x89PNG\r\n\x1a\n fake plot bytes"
METRICS = {
    "recipe": "tiny-recipe",
    "tiers": [],
    "dataset": {"name": "Tiny routing set", "n_queries": 40, "tasks": ["gsm", "crux"]},
    "operating_target": 0.95,
    "headline": {"split": "random", "router": "consroute", "accuracy_pct_of_cloud": 95.5, "cost_pct_of_cloud": 38.4,
                 "latency_pct_of_cloud": 61.0, "apgr": 0.62, "aiq": 0.71, "cpt50": 30.0, "cpt80": 55.0},
    "results": {
        "random": {
            "consroute": {"cost_pct_of_cloud": {"mean": 38.4, "std": 2.5}, "apgr": {"mean": 0.62, "std": 0.03},
                          "tier_mix": {"device": 0.5, "edge": 0.2, "cloud": 0.3}},
            "random": {"cost_pct_of_cloud": {"mean": 66.0, "std": 1.0}},
        },
        "leave_one_task_out": {"consroute": {"cost_pct_of_cloud": {"mean": 47.5, "std": 6.0},
                                             "aiq": {"mean": float("nan"), "std": 0.0}}},
    },
    "plots": ["deferral_cost.png"],
}


@pytest.fixture()
def calibrated(router):
    calibrate_for_tests(router)
    return router


@pytest.fixture()
def fake_hub(monkeypatch, tmp_path):
    hub = install_fake_hub(monkeypatch, tmp_path / "hf" / "hub")
    hub.upload_folder(tmp_path / "device-lm", DEVICE_LM_REPO)  # the conftest router's backbone + tokenizer
    return hub


@pytest.fixture()
def plot(tmp_path):
    path = tmp_path / "deferral_cost.png"
    path.write_bytes(PNG)
    return path


def decisions(router_or_pipe, queries=QUERIES) -> list[dict]:
    if hasattr(router_or_pipe, "route"):
        return [d.to_dict() for d in router_or_pipe.route(queries)]
    return router_or_pipe(queries, batch_size=2)


def assert_same_decisions(actual: list[dict], expected: list[dict]) -> None:
    assert [(d["tier"], d["cluster"], d["thresholds"]) for d in actual] == [
        (d["tier"], d["cluster"], d["thresholds"]) for d in expected
    ]
    for got, want in zip(actual, expected):
        assert got["scores"] == pytest.approx(want["scores"], abs=1e-5)


def test_full_push_loads_by_repo_id_and_routes_like_the_local_router(calibrated, fake_hub, plot):
    expected = decisions(calibrated)
    assert {d["tier"] for d in expected} >= {"device", "cloud"}  # a comparison that can fail
    commit = push_router(calibrated, "org/consroute-full", metrics=METRICS, plots=[plot])
    assert commit.oid == fake_hub.commits[-1]["oid"]
    files = fake_hub.files("org/consroute-full")
    for name in ("model.safetensors", "config.json", "modeling_consroute.py", "configuration_consroute.py",
                 "pipeline_consroute.py", "tokenizer.json", "tokenizer_config.json", "README.md"):
        assert name in files, name
    assert files["deferral_cost.png"] == PNG
    config = json.loads(files["config.json"])
    assert config["checkpoint_kind"] == "full" and "tier-selection" in config["custom_pipelines"]

    loaded = AutoModel.from_pretrained("org/consroute-full").eval()  # by repo id, through the cache
    assert isinstance(loaded, ConsRouterForTierSelection) and loaded.tokenizer is not None
    assert_same_decisions(decisions(pipeline("tier-selection", model=loaded)), expected)
    assert_same_decisions(decisions(loaded), expected)


def test_head_only_push_holds_only_the_head_and_fetches_the_backbone_by_name(calibrated, fake_hub, tmp_path):
    expected = decisions(calibrated)
    calibrated.push_to_hub("org/consroute-head", head_only=True, backbone_repo=DEVICE_LM_REPO)
    files = fake_hub.files("org/consroute-head")
    config = json.loads(files["config.json"])
    assert config["checkpoint_kind"] == "head_only" and config["backbone_name_or_path"] == DEVICE_LM_REPO
    weights = tmp_path / "head.safetensors"
    weights.write_bytes(files["model.safetensors"])
    with safe_open(str(weights), "pt") as handle:
        assert all(key.startswith("head.") for key in handle.keys())
    assert calibrated.config.backbone_name_or_path == str(tmp_path / "device-lm")  # restored after the push
    card = ModelCard(files["README.md"].decode())
    assert card.data.base_model == DEVICE_LM_REPO and "Head-only checkpoint" in card.text

    loaded = ConsRouterForTierSelection.from_pretrained("org/consroute-head").eval()
    assert_same_decisions(decisions(pipeline("tier-selection", model=loaded)), expected)


def test_pushed_card_metadata_holds_the_results(calibrated, fake_hub, plot):
    push_router(calibrated, "org/consroute-card", metrics=METRICS, plots=[plot])
    path = hf_hub_download("org/consroute-card", "README.md")  # offline: served from the fake Hub's cache
    card = ModelCard.load(path)
    results = {(r.dataset_split, r.metric_type): r.metric_value for r in card.data.eval_results}
    assert results == {
        ("random", "cost_pct_of_cloud"): 38.4, ("random", "apgr"): 0.62,
        ("leave_one_task_out", "cost_pct_of_cloud"): 47.5,  # the NaN AIQ and the tier mix are left out
    }
    assert metadata_load(path)["model-index"][0]["name"] == "consroute-card"
    text = Path(path).read_text()
    for needle in ("![deferral cost](deferral_cost.png)", "| device |", "| edge |", "| cloud |", "Tiny routing set",
                   "38.4 ± 2.5", "66.0 ± 1.0", "0.620 ± 0.030", "Adversarial inputs", "`edge`: mode=budget, target=0.9; calibration split: 91.0% of cloud accuracy at 30.5% of cloud cost",
                   "| achieved.cost_pct_of_cloud | 40 |", "| cluster_sizes | 20, 21 |",
                   'pipeline(model="org/consroute-card", trust_remote_code=True)'):
        assert needle in text, needle


def test_card_without_metrics_or_with_partial_metrics(calibrated):
    bare = render_model_card(calibrated, None)
    assert bare.data.eval_results is None and "No evaluation results" in bare.text
    partial = render_model_card(calibrated, {"headline": {"router": "consroute", "split": "test", "apgr": 0.5}})
    assert [(r.dataset_split, r.metric_type, r.metric_value) for r in partial.data.eval_results] == [("test", "apgr", 0.5)]
    assert "APGR 0.500" in partial.text and "AIQ n/a" in partial.text


def test_refusals_happen_before_anything_is_pushed(calibrated, fake_hub, tmp_path):
    pushed = len(fake_hub.commits)
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("user file")
    with pytest.raises(FileExistsError, match="not empty"):
        export_for_hub(calibrated, occupied)
    assert [p.name for p in occupied.iterdir()] == ["keep.txt"]
    with pytest.raises(ValueError, match="backbone_repo"):  # the config names a local folder
        push_router(calibrated, "org/bad-head", head_only=True)
    calibrated.tokenizer = None
    with pytest.raises(ValueError, match="tokenizer"):
        push_router(calibrated, "org/no-tokenizer")
    assert len(fake_hub.commits) == pushed and not fake_hub.repo_dir("org/bad-head").exists()


def test_cli_pushes_a_run_folder_with_its_metrics_and_plots(calibrated, fake_hub, tmp_path, capsys):
    run = tmp_path / "runs" / "tiny"
    calibrated.save_pretrained(run / "router")
    (run / "metrics.json").write_text(json.dumps(METRICS))
    (run / "deferral_cost.png").write_bytes(PNG)
    code = cli.main(["push", str(run), "org/run-head", "--head-only", "--backbone-repo", DEVICE_LM_REPO])
    assert code == 0 and capsys.readouterr().out.strip().endswith(fake_hub.commits[-1]["oid"])
    files = fake_hub.files("org/run-head")
    assert files["deferral_cost.png"] == PNG
    assert json.loads(files["config.json"])["backbone_name_or_path"] == DEVICE_LM_REPO
    card = ModelCard(files["README.md"].decode())
    assert ("random", "cost_pct_of_cloud", 38.4) in [(r.dataset_split, r.metric_type, r.metric_value) for r in card.data.eval_results]

    (run / "deferral_cost.png").unlink()
    with pytest.raises(FileNotFoundError, match="deferral_cost.png"):
        cli.main(["push", str(run), "org/run-head"])


REMOTE_CODE_SCRIPT = textwrap.dedent(
    """
    import importlib.abc, json, sys

    class BlockConsroute(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "consroute_hf":
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")

    sys.meta_path.insert(0, BlockConsroute())
    try:
        import consroute_hf  # noqa: F401
        raise SystemExit("consroute_hf is importable: the test would prove nothing")
    except ModuleNotFoundError:
        pass

    from transformers import AutoModel, pipeline

    local_dir, queries = sys.argv[1], json.loads(sys.argv[2])
    model = AutoModel.from_pretrained(local_dir, trust_remote_code=True).eval()
    out = {
        "model_module": type(model).__module__,
        "auto_local_dir": [d.to_dict() for d in model.route(queries)],
        "pipe_local_dir": pipeline(model=local_dir, trust_remote_code=True)(queries, batch_size=2),
        "pipe_full_repo": pipeline(model="org/remote-full", trust_remote_code=True)(queries, batch_size=2),
        "pipe_head_repo": pipeline("tier-selection", model="org/remote-head", trust_remote_code=True)(queries),
    }
    print("RESULT" + json.dumps(out))
    """
)


def test_remote_code_loads_without_the_package(calibrated, fake_hub, tmp_path):
    """AutoModel and pipeline from a folder and from repo ids (full and head-only) in a Python
    where consroute_hf cannot be imported: only the checkpoint's own code runs."""
    expected = decisions(calibrated)
    local_dir = tmp_path / "checkpoint"
    calibrated.save_pretrained(local_dir)
    push_router(calibrated, "org/remote-full")
    push_router(calibrated, "org/remote-head", head_only=True, backbone_repo=DEVICE_LM_REPO)
    script = tmp_path / "remote_code.py"
    script.write_text(REMOTE_CODE_SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(HF_HOME=str(tmp_path / "hf-home"), HF_HUB_CACHE=str(fake_hub.cache), HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1")
    completed = subprocess.run(
        [sys.executable, "-I", str(script), str(local_dir), json.dumps(QUERIES)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    out = json.loads(completed.stdout.split("RESULT", 1)[1])
    assert out["model_module"].startswith("transformers_modules.")
    for key in ("auto_local_dir", "pipe_local_dir", "pipe_full_repo", "pipe_head_repo"):
        assert_same_decisions(out[key], expected)
