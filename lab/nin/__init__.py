"""Noise Injection Nodes: the linear toy model's simulation (``toy``) and batched phase
maps (``phase_map``); theory in :mod:`lab.theory.nin`."""
