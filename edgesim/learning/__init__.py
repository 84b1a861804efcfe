"""Learning in the loop: real PyTorch training on a real small data set, on edgesim's
simulated clock. Training systems (FedAvg and FedAce, decentralized sub-models, ...) decide
who trains what and when; this package does the learning and says how much there was of it
(steps, bytes, losses), and the system charges the time that work would take on the
scenario's devices and links.

Modules, one concern each:

* :mod:`.data`: the Dataset (with a set's own test split, natural partition and clean labels
  when it has them), scikit-learn's digits, your own arrays, the held-out split and the
  private shards (Dirichlet label skew, iid, or the set's writers); numpy only;
* :mod:`.datasets`: the public sets from their standard files (CIFAR-10/100, LEAF FEMNIST and
  Shakespeare, Speech Commands features), FedProx's Synthetic(alpha, beta), and the difficulty
  set (known label noise and imbalance); numpy and json only;
* :mod:`.importance`: client importance (Eq. 3.3-3.5 of FedAce) and example importance
  (Eq. 3.2), sampling without replacement; numpy only;
* :mod:`.compression`: magnitude masks, majority vote, mask caching, the sparsity schedule,
  bytes on the wire; numpy only;
* :mod:`.server`: weighted averaging and the server optimiser; numpy only;
* :mod:`.consensus`: decentralized sub-model training's task allocation (overlap, residue),
  structure slices, neighbour averaging and global recomposition; numpy only;
* :mod:`.torch_learner`: the model, local SGD, per-example losses, evaluation, on the CPU or
  a GPU; it imports torch, and only when a learning system is built;
* :mod:`.models`: the federated-learning papers' models (FedAvg's CNN, ResNet-18 with
  GroupNorm, VGG-11, LEAF's character LSTM), built by torch_learner; imports torch;
* :mod:`.vectorised`: many clients' local SGD in one vmap'd pass per step
  (``Learner.train_many``); imports torch, only when a system asks for it;
* :mod:`.branched`: the branched model of decentralized training (shared layers + one branch
  per class), sub-model SGD and evaluation, FLOPs of a sub-model; imports torch, only when a
  `training.decentralized` system is built.
* :mod:`.variants`: the Variant Parallelism family rule (width, resolution, last-layer
  channels of V_i); numpy-free and torch-free, read by the zoo and the VP system;
* :mod:`.mobilenet_blocks`, :mod:`.variant_models`: MobileNetV2's blocks and the VP variants
  trained for real (``python -m edgesim.systems.vp.predictions make``); import torch, only
  when predictions are made.

Plain simulations never import this package's torch module: :func:`require_torch` is the gate
a system passes through, and it names the extra to install when torch is missing.
"""
from __future__ import annotations

INSTALL_HINT = 'pip install -c constraints.txt -e ".[learn]"'


class LearningUnavailable(RuntimeError):
    """PyTorch (or scikit-learn) is not installed, and a scenario needs real learning."""


def require_torch(what: str) -> None:
    """Raise LearningUnavailable, in one line naming the fix, when torch cannot be imported."""
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise LearningUnavailable(
            f"{what} trains a real model and needs PyTorch, which is not installed: "
            f"{INSTALL_HINT}") from exc
