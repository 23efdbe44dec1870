"""Reads what sweeps wrote and lays it out: `load_results`, the summary's
statistics and its vocabulary, tables, figures, Markdown/HTML/LaTeX.

Imports only `lstm_init.core` (statistics) and the file helpers: a report
needs a workdir, never the engine that wrote it.
"""
