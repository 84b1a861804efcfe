"""The VP variant family (`edgesim.learning.variants`): Table I's rule and Table II's figures, and
the zoo's ``vp_*`` models generated from it."""
from __future__ import annotations

import pytest

from edgesim.hardware.model_sizes import model_size
from edgesim.learning import variants as vp

# VP paper Table II: (input side, #params, #MACs) of V1..V7 and V_im1..V_im7.
TABLE_II_V = [(96, 320e3, 10e6), (128, 330e3, 17e6), (160, 340e3, 27e6), (192, 360e3, 40e6),
              (224, 370e3, 54e6), (256, 390e3, 71e6), (320, 410e3, 112e6)]
TABLE_II_IM = [(96, 1.15e6, 17e6), (128, 1.3e6, 30e6), (160, 1.45e6, 47e6),
               (192, 1.59e6, 69e6), (224, 1.75e6, 95e6), (256, 1.9e6, 125e6),
               (320, 1.97e6, 196e6)]


def test_the_rule_reproduces_table_i():
    # §III-B's two examples: V3 (160 pixels) ends in 384 filters, V1 (96 pixels) in 256.
    assert (vp.variant(3).resolution, vp.variant(3).last_channels) == (160, 384)
    assert (vp.variant(1).resolution, vp.variant(1).last_channels) == (96, 256)
    # The caption: j = 3 + i at width 0.35, j = min(7 + 2i, 20) at width 0.5.
    assert [v.last_channels // 64 for v in vp.family("v")] == [4, 5, 6, 7, 8, 9, 10]
    assert [v.last_channels // 64 for v in vp.family("im")] == [9, 11, 13, 15, 17, 19, 20]
    # "divisible by 64 for better performance"; the width reduced 2.85x (2x for ImageNet).
    assert all(v.last_channels % 64 == 0 for v in vp.family("v") + vp.family("im"))
    assert vp.variant(2).width == pytest.approx(1 / 2.85, abs=0.002)
    assert vp.variant(2, "im").width == 0.5
    with pytest.raises(ValueError, match="valid: 'v', 'im'"):
        vp.variant(1, "x")
    with pytest.raises(ValueError, match="variants 1..7"):
        vp.variant(8)


@pytest.mark.parametrize("fam,table", [("v", TABLE_II_V), ("im", TABLE_II_IM)])
def test_generated_zoo_variants_reproduce_table_ii(fam, table):
    for v, (rho, params, macs) in zip(vp.family(fam), table):
        size = model_size(v.name)
        assert v.resolution == rho and size.input_shape == (3, rho, rho)
        assert size.flops / 2 == pytest.approx(macs, rel=0.05), v.name
        # V_im: exact to 1 %; V: Table II counts as Keras does (BN statistics too), 3-6 % more
        # than torch's parameters (tests/test_zoo.py checks the Keras count).
        assert size.params == pytest.approx(params, rel=0.01 if fam == "im" else 0.06), v.name


def test_zoo_registers_the_rule_not_a_list():
    pytest.importorskip("torch")
    from edgesim.calibration.zoo import registry
    for v in vp.family("v") + vp.family("im"):
        _fam, kwargs, _desc = registry._REGISTRY[v.name]
        assert (kwargs["width"], kwargs["last_channels"], kwargs["resolution"]) == (
            v.width, v.last_channels, v.resolution)


def test_scaled_family_for_small_images():
    small = vp.scaled(5, 32)
    assert [v.resolution for v in small] == [14, 18, 23, 27, 32]     # rho_i x 32 / 224
    assert [v.last_channels for v in small] == [v.last_channels for v in vp.family("v", 5)]
    assert [v.resolution for v in vp.scaled(5, 8)] == [4, 5, 6, 7, 8]
