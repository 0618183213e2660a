from __future__ import annotations

import pytest

from pipesdfa.util.errors import UserError
from pipesdfa.zoo.workloads import (PAPER_WORKLOADS, WORKLOADS, Conv, Dense, ModelSpec, get_workload, resolve)


def test_nine_paper_workloads_plus_digits():
    assert len(PAPER_WORKLOADS) == 9
    assert "digits-mlp" in WORKLOADS and "digits-mlp" not in PAPER_WORKLOADS


def test_convnet_and_vgg_geometry_match_the_paper():
    conv = resolve(get_workload("dvs-convnet").model_spec())
    assert [l.out_channels for l in conv[:5]] == [32, 64, 128, 128, 128]
    assert conv[5].in_channels == 2048 and conv[5].out_channels == 1024
    assert conv[6].out_channels == 110 and conv[6].is_output
    vgg = resolve(get_workload("dvs-vgg11").model_spec())
    assert sum(l.kind == "conv" for l in vgg) == 8
    assert sum(l.pool == 2 for l in vgg) == 5
    assert vgg[8].in_channels == 8192 and [l.out_channels for l in vgg[8:]] == [4096, 4096, 110]


def test_mlp_layers_count_weight_layers():
    for n in (2, 3, 4, 5):
        layers = resolve(get_workload(f"nmnist-mlp{n}").model_spec())
        assert len(layers) == n
        assert layers[0].in_channels == 2 * 34 * 34


def test_conv_output_size_by_hand():
    spec = ModelSpec("t", (1, 7, 7), (Conv(4, kernel=3, stride=2, padding=0, pool=1), Dense(3)), 3)
    l0, l1 = resolve(spec)
    assert l0.out_hw == (3, 3) and l0.macs == 9 * 4 * 9
    assert l1.in_channels == 4 * 3 * 3


def test_spec_round_trip_and_errors():
    spec = get_workload("dvs-vgg11").model_spec()
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(UserError, match="num_classes"):
        ModelSpec("bad", (4,), (Dense(3),), 2)
    with pytest.raises(UserError, match="unknown workload"):
        get_workload("nope")
