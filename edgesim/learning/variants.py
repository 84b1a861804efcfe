"""The Variant Parallelism family rule: how variant V_i's width, input resolution and last-layer
channels follow from its index i (VP paper, ``../shared/seeds/001``, §III-B, Table I and its
caption, Table II). Torch-free: the zoo registers its ``vp_*`` models from it, the learning
substrate trains scaled-down variants from it, and the VP system reads a variant's resolution
and width from it for the scaling of Eq. 1.

The paper's three steps, as numbers:

* **width** d: MobileNetV2's width factor "reduced by 2.85x (2x for ImageNet variants)", i.e.
  d = 1/2.85 ~ 0.35 (the caption's "width-factor = 0.35") and d = 1/2 = 0.5 for V_im;
* **resolution** rho_i: Table II's inputs, 96, 128, 160, 192, 224, 256, 320 for i = 1..7. The
  paper states no formula for them: i <= 6 are 64 + 32 i (a step of 224/7, MobileNetV2's input
  over 7), and V7 skips 288 to 320. They are kept as published;
* **last-layer channels** ("conv2d 1x1, 64 x j" of Table I, "proportional to its input size"):
  j = 3 + i at width 0.35 and j = min(7 + 2i, 20) at width 0.5 (Table I's caption), so V1 (96
  pixels) has 256 filters and V3 (160 pixels) 384, the two examples of §III-B.

Eq. 1 of the paper is not this rule but the master's scaling of each answer by its variant's
resolution and width; it lives with the aggregation (`edgesim.systems.vp.aggregate`) and takes
rho_i and d_i from here.

:func:`scaled` transfers the rule to a smaller task (e.g. 32 x 32 CIFAR-10 instead of 224 x 224
Food-101): resolutions in proportion to the base input (rho_i x base / 224), the same widths
and the same j.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["VariantArch", "WIDTH", "RESOLUTIONS", "BASE_RESOLUTION", "last_j", "variant",
           "family", "scaled"]

#: Width factor per family: "v" (V1..V7) and "im" (the ImageNet variants V_im1..V_im7).
#: §III-B: MobileNetV2's width reduced 2.85x (1/2.85 = 0.351, written 0.35) or 2x.
WIDTH: dict[str, float] = {"v": 0.35, "im": 0.5}
#: Table II: input side rho_i of V_i (and V_im,i), i = 1..7.
RESOLUTIONS: tuple[int, ...] = (96, 128, 160, 192, 224, 256, 320)
#: The baseline's input (MobileNetV2 at 224; V5 runs at the baseline's resolution).
BASE_RESOLUTION = 224


@dataclass(frozen=True)
class VariantArch:
    """One variant: its name, index i, width d_i, input side rho_i and last 1x1 conv's filters."""

    name: str
    index: int
    family: str
    width: float
    resolution: int
    last_channels: int


def last_j(i: int, fam: str = "v") -> int:
    """Table I's caption: j = 3 + i (width 0.35), j = min(7 + 2i, 20) (width 0.5, ImageNet)."""
    if fam == "v":
        return 3 + i
    if fam == "im":
        return min(7 + 2 * i, 20)
    raise ValueError(f"unknown VP family {fam!r}; valid: 'v', 'im'")


def variant(i: int, fam: str = "v") -> VariantArch:
    """V_i (fam 'v') or V_im,i (fam 'im') as the paper defines it, i = 1..7."""
    if not 1 <= i <= len(RESOLUTIONS):
        raise ValueError(f"the paper defines variants 1..{len(RESOLUTIONS)}, not {i}")
    j = last_j(i, fam)                  # first: it rejects an unknown family
    prefix = "vp_v" if fam == "v" else "vp_im"
    return VariantArch(f"{prefix}{i}", i, fam, WIDTH[fam], RESOLUTIONS[i - 1], 64 * j)


def family(fam: str = "v", count: int = len(RESOLUTIONS)) -> list[VariantArch]:
    """V_1 .. V_count of a family."""
    return [variant(i, fam) for i in range(1, count + 1)]


def scaled(count: int, base_resolution: int, fam: str = "v") -> list[VariantArch]:
    """The family for inputs of side ``base_resolution`` instead of 224: rho_i scaled by
    base/224 (rounded, at least 4 pixels), the same width and j. For 32 x 32 images V1..V5
    take 14, 18, 23, 27 and 32 pixels."""
    out = []
    for v in family(fam, count):
        rho = max(4, int(round(v.resolution * base_resolution / BASE_RESOLUTION)))
        out.append(VariantArch(v.name, v.index, v.family, v.width, rho, v.last_channels))
    return out
