"""The cross-device predictor (`edgesim calibrate predict`, `loo`): the device catalogue
(:mod:`.devices`), the per-kernel performance model (:mod:`.perfmodel`), the literature anchors
and replications it is fitted and judged on (:mod:`.anchor`, :mod:`.anchors`,
:mod:`.literature`, :mod:`.literature_vp`, :mod:`.replication`), leave-one-device-out
(:mod:`.loo_baseline`) and the error band (:mod:`.band`)."""
