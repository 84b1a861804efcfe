"""The sim-vs-real testbed (`edgesim testbed`): real workers served a real load
(:mod:`.pool`, served-mode profiling in :mod:`.served_profile`), the simulated twin run on the
same calls (:mod:`.run`), statistics (:mod:`.stats`) and the camera -> shaped link -> server
two-tier testbed (:mod:`.twotier`)."""
