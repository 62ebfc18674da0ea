"""The ZS3Net method: GMMN training/sampling, classifier retraining, self-training.

Kept import-free on purpose: importing ``core.zs3`` must not import torch.
"""
