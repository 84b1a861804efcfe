"""Calibration: model zoo, profiler, profile bundles and service-time predictors.

This package is importable without torch. The torch-dependent modules (for example
:mod:`edgesim.calibration.zoo`) are imported lazily: import them explicitly, e.g.
``from edgesim.calibration import zoo``, only where PyTorch is available.
"""
