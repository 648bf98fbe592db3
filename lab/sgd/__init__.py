"""Batched SGD simulation: many independent chains advanced as one tensor program."""
