"""Calibration, by concern: profiling into bundles (:mod:`.profiler`, :mod:`.fingerprint`,
:mod:`.merge`, :mod:`.transfer`, :mod:`.check`; the bundle format itself is in the core,
:mod:`edgesim.hardware.profiles`), the cross-device predictor (:mod:`.predictor`), the
sim-vs-real testbed (:mod:`.testbed`) and the model zoo (:mod:`.zoo`).

This package is importable without torch. The torch-dependent modules (for example
:mod:`edgesim.calibration.zoo`) are imported lazily: import them explicitly, e.g.
``from edgesim.calibration import zoo``, only where PyTorch is available.
"""
