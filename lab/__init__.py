"""Noise Lab's core: experiments, run files and theory. Never imports Qt."""
__version__ = "0.1.0"
