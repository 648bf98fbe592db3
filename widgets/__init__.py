"""Noise Lab's window: the main window, the parameter form built from a spec, the run
browser, plot helpers and one panel per experiment family (``widgets.panels``)."""
