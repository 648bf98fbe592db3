"""Closed-form predictions stored beside the measurements (one module per family)."""
