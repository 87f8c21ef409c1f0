"""ConsRouteConfig: construction, validation errors, round trips, Auto-class resolution."""

from __future__ import annotations

import json

import pytest
from tiny_models import tiny_llama_config
from transformers import AutoConfig, AutoModel

from consroute_hf import ConsRouteConfig, ConsRouterForTierSelection, TierSpec

D = 64  # tiny backbone hidden size


def make_config(**overrides) -> ConsRouteConfig:
    return ConsRouteConfig(backbone_config=tiny_llama_config(), head_hidden_size=16, **overrides)


def calibrated_fields(k: int = 3, t: int = 3) -> dict:
    return {
        "cluster_centroids": [[float(i + j) for j in range(D)] for i in range(k)],
        "feature_mean": [0.5] * D,
        "feature_std": [2.0] * D,
        "cluster_thresholds": [[0.1 * (i + 1)] * (t - 1) for i in range(k)],
        "default_thresholds": [0.7] * (t - 1),
    }


def test_plain_tier_names_get_default_profiles():
    config = make_config(tiers=["device", "edge", "cloud"])
    assert config.tier_names == ["device", "edge", "cloud"]
    assert all(isinstance(spec, TierSpec) for spec in config.tier_specs)
    sizes = [spec.activated_params_b for spec in config.tier_specs]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    assert config.default_thresholds == [0.5, 0.5]


def test_dict_and_tierspec_tiers_are_accepted():
    config = make_config(tiers=[{"name": "phone", "activated_params_b": 1.0}, TierSpec("dc", 70.0, network_rtt_ms=90.0)])
    assert config.tier_names == ["phone", "dc"]
    assert config.tier_specs[1].network_rtt_ms == 90.0
    assert config.default_thresholds == [0.5]


def test_config_round_trip_preserves_calibration(tmp_path):
    config = make_config(
        calibration={"mode": "budget", "target": 0.95},
        threshold_profiles={"cheap": {"cluster_thresholds": [[0.2, 0.3]] * 3, "calibration": {"target": 0.9}}},
        **calibrated_fields(),
    )
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, ConsRouteConfig)
    for field in ("cluster_centroids", "feature_mean", "feature_std", "cluster_thresholds", "default_thresholds", "tiers", "calibration"):
        assert getattr(loaded, field) == getattr(config, field), field
    assert loaded.threshold_profiles["cheap"]["cluster_thresholds"] == [[0.2, 0.3]] * 3
    assert loaded.backbone_config.hidden_size == D
    assert loaded.backbone_config.model_type == "llama"


def test_auto_classes_resolve_after_import():
    assert type(AutoConfig.for_model("consroute")) is ConsRouteConfig
    model = AutoModel.from_config(make_config())
    assert type(model) is ConsRouterForTierSelection


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"tiers": ["device"]}, "at least 2 tiers"),
        ({"tiers": ["device", "device"]}, "must be unique"),
        ({"tiers": [{"name": "", "activated_params_b": 1.0}, "cloud"]}, "non-empty name"),
        ({"tiers": ["device", "moon"]}, "Unknown tier name 'moon'"),
        ({"default_thresholds": [0.5, 1.5]}, "must lie in [0, 1]"),
        ({"default_thresholds": [0.5]}, "expected (T-1,) = (2,)"),
        ({"pooling": "max"}, "`pooling`"),
        ({"feature_layer": 7}, "out of range"),
    ],
)
def test_invalid_fields_raise_naming_the_field(overrides, message):
    with pytest.raises(ValueError) as error:
        make_config(**overrides)
    assert message in str(error.value)


def test_centroid_shape_mismatch_names_expected_shape():
    fields = calibrated_fields()
    fields["cluster_centroids"] = [[0.0] * (D - 1)] * 3
    with pytest.raises(ValueError, match=r"`cluster_centroids` has shape \(3, 63\), expected \(K, D\)"):
        make_config(**fields)


def test_threshold_rows_must_match_cluster_count():
    fields = calibrated_fields(k=3)
    fields["cluster_thresholds"] = [[0.5, 0.5]] * 2
    with pytest.raises(ValueError, match=r"`cluster_thresholds` has shape \(2, 2\), expected \(K, T-1\) = \(3, 2\)"):
        make_config(**fields)


def test_threshold_columns_must_match_tiers():
    fields = calibrated_fields(k=2, t=4)  # 3 columns for a 3-tier router
    del fields["default_thresholds"]
    with pytest.raises(ValueError, match=r"expected \(K, T-1\) = \(2, 2\)"):
        make_config(**fields)


def test_cluster_threshold_out_of_range():
    fields = calibrated_fields()
    fields["cluster_thresholds"][1][0] = -0.1
    with pytest.raises(ValueError, match="must lie in"):
        make_config(**fields)


def test_centroids_need_standardisation():
    fields = calibrated_fields()
    del fields["feature_std"]
    with pytest.raises(ValueError, match="feature_std"):
        make_config(**fields)


def test_invalid_config_file_is_rejected_at_load(tmp_path):
    make_config().save_pretrained(tmp_path)
    raw = json.loads((tmp_path / "config.json").read_text())
    raw["default_thresholds"] = [0.5, 2.0]
    (tmp_path / "config.json").write_text(json.dumps(raw))
    with pytest.raises(ValueError, match="must lie in"):
        ConsRouteConfig.from_pretrained(tmp_path)
