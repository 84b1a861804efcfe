"""Profile bundles as the simulator reads them (torch-free): the bundle format that
`edgesim calibrate` writes (:mod:`.bundle`), the predictor that fills what a bundle lacks
(:mod:`.predictor`, :mod:`.predictor_transfer`, :mod:`.roofline`), the quantile and series
models (:mod:`.quantiles`, :mod:`.series`), and served-mode service times
(:mod:`.served_model`, :mod:`.bundle_service`). `dist: calibrated` is built from these by
:mod:`edgesim.hardware.calibrated`; making bundles is :mod:`edgesim.calibration`'s."""
