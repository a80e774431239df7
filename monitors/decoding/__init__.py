"""Engine glue: guides, lookups through the LSP bridge, Hugging Face generation.

Import the submodules directly (``monitors.decoding.hf`` needs torch and
transformers): ``SequenceGuide`` (guide), ``BridgeLookup`` (lookup),
``MgdSession``/``SessionConfig`` (session), ``MonitorLogitsProcessor`` (hf),
``HFGenerator``/``GenerateOptions`` (generate).
"""
