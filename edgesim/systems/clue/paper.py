"""CLUE's Table 1 (average MB of one Out and one In operation, EMNIST, PyTorch) as a reference,
and the same operations under edgesim's byte model for the paper's three models."""
from __future__ import annotations

from edgesim.learning import knowledge as K

#: Table 1 of the paper: model -> operation -> (FL MB, CL MB).
PAPER_TABLE_1 = {
    "MobileNet": {"out": (6.38, 0.00058), "in": (7.36, 4.57)},
    "DenseNet": {"out": (16.18, 0.00058), "in": (18.35, 8.80)},
    "ResNet": {"out": (12.19, 0.00058), "in": (13.75, 8.55)},
}

#: The paper's parameter counts (§7.1) and the Z it used for each (§7.2.1).
PAPER_MODELS = {"MobileNet": (3.54e6, 0.5), "DenseNet": (8.064e6, 0.2),
                "ResNet": (11.694e6, 0.3)}

#: EMNIST Digits, the 280k-example split the paper's size matches: 10 classes.
PAPER_CLASSES = 10


def table_1_ours(dtype_bytes: int, significant: float, encoding: str) -> dict:
    """Table 1's operations under edgesim's byte model for the paper's models: FL Out and In
    a dense model, CL Out one class-prior report, CL In the top-Z parameters with their
    positions, at the paper's Z for each model (``significant`` is this run's Z, listed for
    reference). The paper also compresses the KT payload (3-5x) and sends FL updates in its
    framework's format; edgesim does neither, so its MB are upper bounds of the same counts."""
    out = {}
    for name, (params, z) in PAPER_MODELS.items():
        p = int(params)
        count = max(1, int(round(z * p)))
        out[name] = {"z": z,
                     "out": (p * dtype_bytes / 1e6, K.metadata_bytes(PAPER_CLASSES, None) / 1e6),
                     "in": (p * dtype_bytes / 1e6,
                            K.transfer_bytes(count, p, dtype_bytes, encoding) / 1e6)}
    out["this_run_z"] = significant
    return out
