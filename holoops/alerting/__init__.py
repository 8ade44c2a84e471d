"""Alerting internals: rule catalog, SLO rules, Prometheus/Alertmanager outputs, backtest, PromQL evaluator.

The public entry is :mod:`holoops.analyze.alerts`; these modules import their heavy libraries lazily.
"""
