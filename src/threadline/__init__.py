"""Threadline: offline cyber-threat-intelligence analysis, with evidence for every claim."""

__version__ = "0.1.0"
