"""Mercury (`training.mercury`): SGD, the sequential importance-sampling pipeline and BACC
(:mod:`.schedules`), the TicTac and AdaComm baselines (:mod:`.baselines`), the model they
train with `learning` (:mod:`.learning`); :mod:`.schema` its section, :mod:`.system` the
runtime, :mod:`.summary` its part of summary.json (Eq. 2.3 against an SGD run)."""
