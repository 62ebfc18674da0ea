"""Networks of the engine: DeepLabv3+ (``deeplab``), the GMMN (``gmmn``), graph context (``graph_context``).

Kept import-free on purpose: importing ``core.models`` must not import torch.
"""
