"""The small CNNs federated-learning papers train (their *timed* models when a scenario names
them): the CNN of the FedAvg paper and the FEMNIST CNN of FedML / LEAF baselines."""
from __future__ import annotations

from torch import nn

from edgesim.calibration.zoo.base import _Staged

__all__ = ["FedAvgCNN", "FemnistCNN"]


class FedAvgCNN(_Staged):
    """McMahan et al. 2017 (FedAvg), sec. 3: two 5x5 convolutions of 32 and 64 channels, each
    followed by 2x2 max pooling, a 512-unit fully connected layer with ReLU and a softmax
    layer; 1,663,370 parameters on 28x28 MNIST (10 classes), as the paper states ('same'
    padding, which that count implies)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, resolution: int = 28):
        super().__init__()
        side = resolution // 4
        self.conv1 = nn.Sequential(nn.Conv2d(in_channels, 32, 5, padding=2), nn.ReLU(inplace=True),
                                   nn.MaxPool2d(2))
        self.conv2 = nn.Sequential(nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(inplace=True),
                                   nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.Flatten(1), nn.Linear(64 * side * side, 512),
                                  nn.ReLU(inplace=True), nn.Linear(512, num_classes))
        self._stage_names = ["conv1", "conv2", "head"]


class FemnistCNN(_Staged):
    """The FEMNIST CNN of FedML (``CNN_DropOut``, after Reddi et al. 2021, Adaptive Federated
    Optimization): 3x3 convolutions of 32 and 64 channels, 2x2 max pooling, dropout, a 128-unit
    fully connected layer, dropout, 62 classes; 'two convolutional layers and two linear layers',
    the model FedAce trains on FEMNIST (dissertation ch. 3, sec. 3.5)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 62, resolution: int = 28):
        super().__init__()
        side = (resolution - 4) // 2
        self.conv1 = nn.Sequential(nn.Conv2d(in_channels, 32, 3), nn.ReLU(inplace=True))
        self.conv2 = nn.Sequential(nn.Conv2d(32, 64, 3), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                                   nn.Dropout(0.25))
        self.head = nn.Sequential(nn.Flatten(1), nn.Linear(64 * side * side, 128),
                                  nn.ReLU(inplace=True), nn.Dropout(0.5),
                                  nn.Linear(128, num_classes))
        self._stage_names = ["conv1", "conv2", "head"]
