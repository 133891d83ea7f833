"""Decoders from Dual-UV features to UV-space Gaussians: the training-free "projection" baseline and the
learned MAE-style transformer."""
