"""FedAvg and FedAce (`training.federated`): rounds of selection, download, loss pass, local
training, upload, completion and aggregation (:mod:`.rounds`), clients and their speeds
(:mod:`.clients`); :mod:`.schema` its section, :mod:`.system` the runtime, :mod:`.summary`,
:mod:`.frames`, :mod:`.plots` its outputs, :mod:`.compare` Table 3.2 over runs."""
