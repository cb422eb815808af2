"""TLT pruning semantics on residual and concat graphs, and the pruned archive's reload."""

from __future__ import annotations

import json

import pytest
import torch
import torchvision
from torch import nn

from graft.errors import UserError
from graft.optimize.prune import (
    PruneOptions,
    filter_norms,
    merge_scores,
    normalize_scores,
    num_retained,
    prune_module,
    retained_indices,
    save_report,
)

from .conftest import TinyResNet, TwoStage, manifest_for, spread_filter_norms


def _scores(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


# -- the retained-filter rule ------------------------------------------------------------------


def test_retained_count_rounds_up_to_granularity_with_a_floor_and_a_cap() -> None:
    opts = PruneOptions(threshold=0.5, granularity=8, min_num_filters=16)
    s = torch.arange(64, dtype=torch.float64) / 64  # 31 of 64 scores exceed 0.5
    assert num_retained(s, opts) == 32
    assert num_retained(torch.full((64,), 0.1, dtype=torch.float64), opts) == 16  # -nf floor
    assert num_retained(torch.ones(12, dtype=torch.float64), opts) == 12  # never more than exist
    assert num_retained(torch.ones(20, dtype=torch.float64), opts) == 20  # 24 capped at 20
    odd = PruneOptions(threshold=0.5, granularity=8, min_num_filters=5)
    assert num_retained(torch.zeros(40, dtype=torch.float64), odd) == 8  # floor rounded up too
    assert num_retained(s, PruneOptions(threshold=0.5, granularity=1, min_num_filters=1)) == 31


def test_retained_indices_keep_the_best_scores_in_channel_order() -> None:
    opts = PruneOptions(threshold=0.5, granularity=2, min_num_filters=1)
    keep = retained_indices(_scores(0.9, 0.1, 0.6, 0.2, 0.55, 0.05), opts)
    assert keep == [0, 2, 3, 4]  # 3 above threshold, rounded up to 4: the next best (0.2) joins


@pytest.mark.parametrize(("eq", "expected"), [
    ("union", [0.8, 0.6]), ("intersection", [0.2, 0.3]),
    ("arithmetic_mean", [0.5, 0.45]), ("geometric_mean", [0.4, (0.6 * 0.3) ** 0.5]),
])
def test_equalization_merges_coupled_scores(eq: str, expected: list[float]) -> None:
    merged = merge_scores([_scores(0.8, 0.6), _scores(0.2, 0.3)], eq)  # type: ignore[arg-type]
    assert merged.tolist() == pytest.approx(expected)


def test_filter_norms_follow_the_output_filters() -> None:
    conv = nn.Conv2d(4, 6, 3)
    assert filter_norms(conv) == pytest.approx(conv.weight.detach().double().flatten(1).norm(dim=1))
    deconv = nn.ConvTranspose2d(4, 6, 2, groups=2)  # weight (4, 3, 2, 2): out = g * 3 + j
    w = deconv.weight.detach().double()
    manual = [w[g * 2:(g + 1) * 2, j].norm() for g in range(2) for j in range(3)]
    assert filter_norms(deconv).tolist() == pytest.approx([float(v) for v in manual])


def test_normalizers_are_tlts_normalize_stat() -> None:
    """TLT: max -> s / max(s); L2 -> s / sqrt(sum(s^2)) * len(s); off -> s."""
    s = _scores(3.0, 4.0, 0.0, 12.0)  # ||s|| = 13, len 4
    assert normalize_scores(s, "max").tolist() == pytest.approx([0.25, 1 / 3, 0.0, 1.0])
    assert normalize_scores(s, "L2").tolist() == pytest.approx([12 / 13, 16 / 13, 0.0, 48 / 13])
    assert normalize_scores(s, "off").tolist() == [3.0, 4.0, 0.0, 12.0]
    assert normalize_scores(torch.zeros(3, dtype=torch.float64), "L2").tolist() == [0, 0, 0]


class _OneByOne(nn.Module):
    """conv (4 -> 4 filters, 1x1) -> [depthwise 3x3] -> output conv (4 -> 2), explicit weights:
    filter i of ``conv`` has one weight, norms[i], on input channel i (which names it after
    pruning); channel i of ``dw`` has one weight, dw_norms[i]."""

    def __init__(self, norms: list[float], dw_norms: list[float] | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1, bias=False)
        self.dw = nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False) if dw_norms else None
        self.out = nn.Conv2d(4, 2, 1)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[:, :, 0, 0] = torch.diag(torch.tensor(norms))
            if self.dw is not None:
                self.dw.weight.zero_()
                self.dw.weight[:, 0, 1, 1] = torch.tensor(dw_norms)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv(x))
        return self.out(x if self.dw is None else torch.relu(self.dw(x)))


def _kept(model: _OneByOne, **options) -> list[int]:
    """Which of the 4 filters survive (named by the input channel their weight sits on)."""
    opts = PruneOptions(**{"granularity": 1, "min_num_filters": 1, **options})
    prune_module(model, torch.rand(1, 4, 4, 4), opts, output_layers=[model.out])
    return [int(w.abs().argmax()) for w in model.conv.weight[:, :, 0, 0]]


@pytest.mark.parametrize(("normalizer", "kept"), [
    # norms [1, 2, 2, 4]: max -> [.25, .5, .5, 1]; L2 (||s|| = 5) -> [.8, 1.6, 1.6, 3.2]; off
    ("max", [3]), ("L2", [1, 2, 3]), ("off", [0, 1, 2, 3]),
])
def test_normalizer_decides_what_a_layer_keeps(normalizer: str, kept: list[int]) -> None:
    assert _kept(_OneByOne([1.0, 2.0, 2.0, 4.0]), threshold=0.9, normalizer=normalizer) == kept


@pytest.mark.parametrize(("eq", "threshold", "kept"), [
    # conv max-normalized [.25, .5, .5, 1], depthwise [4, 1, 2, 2] -> [1, .25, .5, .5]
    ("union", 0.6, [0, 3]),  # max: [1, .5, .5, 1]
    ("intersection", 0.4, [2, 3]),  # min: [.25, .25, .5, .5]
    ("arithmetic_mean", 0.55, [0, 3]),  # [.625, .375, .5, .75]
    ("geometric_mean", 0.45, [0, 2, 3]),  # [.5, .354, .5, .707]
])
def test_depthwise_conv_is_equalized_with_its_producer_like_tlt(eq: str, threshold: float,
                                                               kept: list[int]) -> None:
    model = _OneByOne([1.0, 2.0, 2.0, 4.0], dw_norms=[4.0, 1.0, 2.0, 2.0])
    assert _kept(model, threshold=threshold, equalization=eq) == kept
    assert model.dw.in_channels == model.dw.out_channels == model.dw.groups == len(kept)


def test_grouped_conv_with_a_depth_multiplier_is_kept_whole() -> None:
    """TLT refuses depth multipliers above 1; graft keeps those channels instead of breaking."""
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(16, 32, 3, padding=1, groups=16), nn.ReLU(),
                          nn.Conv2d(32, 2, 1))
    spread_filter_norms(model)
    prune_module(model, torch.rand(1, 3, 8, 8), PruneOptions(threshold=0.9, granularity=1,
                                                             min_num_filters=1),
                 output_layers=[model[4]])
    assert (model[0].out_channels, model[2].out_channels) == (16, 32)
    assert model(torch.rand(1, 3, 8, 8)).shape == (1, 2, 8, 8)


def test_bad_options_are_user_errors() -> None:
    with pytest.raises(UserError, match="equalization"):
        PruneOptions(equalization="average")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="normalizer"):
        PruneOptions(normalizer="l1")  # type: ignore[arg-type]


# -- graphs ------------------------------------------------------------------------------------


def _prune(model: nn.Module, size: int = 32, **kw) -> tuple[nn.Module, object]:
    opts = PruneOptions(**{"threshold": 0.3, "granularity": 8, "min_num_filters": 8, **kw})
    heads = model.heads() if isinstance(model, TwoStage) else [model.fc]
    result = prune_module(model, torch.rand(1, 3, size, size), opts, output_layers=heads)
    return model, result


def test_residual_groups_share_channels_and_respect_granularity() -> None:
    model = spread_filter_norms(TinyResNet())
    x = torch.rand(2, 3, 32, 32)
    model, result = _prune(model)
    assert result.params_after < 0.8 * result.params_before
    b1, b2 = model.layer1, model.layer2
    # the stem and layer1's conv2 meet in layer1's residual add
    assert model.stem[0].out_channels == b1.conv2.out_channels == b1.conv1[0].in_channels
    assert b2.conv2.out_channels == b2.down[0].out_channels == model.fc.in_features
    for conv in (model.stem[0], b1.conv1[0], b2.conv1[0], b2.conv2):
        assert conv.out_channels % 8 == 0 and conv.out_channels >= 8
    assert model.fc.out_features == 4  # the output layer keeps its filters
    assert model(x).shape == (2, 4)
    assert any(r.channels_after < r.channels_before for r in result.layers)


def test_union_keeps_at_least_what_intersection_keeps() -> None:
    counts = {}
    for eq in ("union", "intersection", "arithmetic_mean", "geometric_mean"):
        model, _ = _prune(spread_filter_norms(TinyResNet(), seed=3), equalization=eq)
        counts[eq] = model.layer2.conv2.out_channels
    assert counts["union"] >= counts["arithmetic_mean"] >= counts["intersection"]
    assert counts["arithmetic_mean"] >= counts["geometric_mean"] >= counts["intersection"]
    assert counts["union"] > counts["intersection"]


def test_concat_stage_graph_keeps_heads_and_rewires_the_concat() -> None:
    model = spread_filter_norms(TwoStage())
    x = torch.rand(2, 3, 32, 32)
    shapes = [t.shape for t in model(x)]
    model, result = _prune(model, threshold=0.4)
    assert [t.shape for t in model(x)] == shapes
    assert [h.out_channels for h in model.heads()] == [6, 4, 6, 4]
    feat = model.backbone[2][0].out_channels
    assert feat % 8 == 0 and feat < 32
    # stage 2 reads the pruned features plus the untouched heatmap and PAF channels
    assert model.s2[0][0].in_channels == feat + 4 + 6
    assert model.s1[0][0].in_channels == feat
    assert result.params_after < result.params_before


def test_layers_reaching_an_output_are_never_pruned_even_if_not_declared() -> None:
    model = spread_filter_norms(TwoStage())
    result = prune_module(model, torch.rand(1, 3, 32, 32), PruneOptions(threshold=0.9,
                          min_num_filters=8), output_layers=[])
    assert model.s2_paf[2].out_channels == 6 and model.s2_heat[2].out_channels == 4
    assert result.params_after < result.params_before


def test_excluded_layers_keep_their_filters_and_typos_are_reported() -> None:
    model = spread_filter_norms(TinyResNet())
    _prune(model, threshold=0.6, excluded_layers=("layer2.conv1.0",))
    assert model.layer2.conv1[0].out_channels == 64
    assert model.layer1.conv1[0].out_channels < 32
    with pytest.raises(UserError, match="did you mean"):
        _prune(TinyResNet(), excluded_layers=("layer2.conv1.O",))


def test_torchvision_resnet18_prunes_and_rebuilds() -> None:
    model = spread_filter_norms(torchvision.models.resnet18(num_classes=3))
    x = torch.rand(1, 3, 32, 32)
    opts = PruneOptions(threshold=0.35)
    result = prune_module(model, x, opts, output_layers=[model.fc])
    assert result.ratio < 0.6
    assert model.fc.out_features == 3 and model(x).shape == (1, 3)
    for m in model.modules():
        if isinstance(m, nn.Conv2d) and m.out_channels != 64:
            assert m.out_channels % 8 == 0


def test_report_files(tmp_path) -> None:
    _, result = _prune(spread_filter_norms(TinyResNet()))
    csv_path, json_path = save_report(result, tmp_path / "model.prune")
    rows = csv_path.read_text().splitlines()
    assert rows[0].startswith("layer,type,channels_before,channels_after")
    assert rows[-1].startswith("total,")
    data = json.loads(json_path.read_text())
    assert data["params_after"] == result.params_after
    assert data["options"]["granularity"] == 8
    assert {"name", "channels_before", "channels_after", "params_before", "params_after",
            "ratio"} <= set(data["layers"][0])


@pytest.mark.parametrize("arch", ["tiny_resnet", "two_stage"])
def test_pruned_archive_reloads_from_its_manifest(tmp_path, toy_task, arch: str) -> None:
    """Stock net + recorded layer shapes + weights == the pruned net (no pickle)."""
    import graft.api
    from graft.nn.surgery import apply_layer_shapes

    model = spread_filter_norms(toy_task.build_model({"name": arch}))
    manifest = manifest_for(arch)
    model, result = _prune(model)
    path = tmp_path / "pruned.graft"
    graft.api.GraftModel(model.eval(), manifest).save(path, key="secret")
    loaded = graft.api.load(path, key="secret")
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        want, got = model(x), loaded.module(x)
    for w, g in zip(want if isinstance(want, list) else [want],
                    got if isinstance(got, list) else [got], strict=True):
        assert torch.equal(w, g)
    assert loaded.num_params == result.params_after
    # the same by hand: build the stock net, apply the shapes, load the weights
    stock = apply_layer_shapes(toy_task.build_model({"name": arch}),
                               loaded.manifest["architecture"]["layer_shapes"])
    stock.load_state_dict(loaded.module.state_dict())
