"""DEEPCON (`training.deepcon`): DMML, DMML-SP and DMML-Par (:mod:`.dmml`, with DMML-Par's
model choice in :mod:`.allocation`), the over-the-air loop (:mod:`.ota`, real models in
:mod:`.ota_learning`) and ASRS sampling (:mod:`.asrs`); :mod:`.schema` its section,
:mod:`.system` the runtime the registry builds, :mod:`.summary` and :mod:`.plots` its
outputs."""
