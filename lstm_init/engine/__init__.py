"""Runs many runs: config fields, the plan, compiled programs, the host loop and
its hooks, metric writers, checkpoints, the workdir, devices and processes.

Imports `core` and `training`, and `report.summary` for the statistics it writes.
"""
