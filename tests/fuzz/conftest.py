"""Hypothesis profiles: "ci" (the default) keeps the fuzz suite to seconds; "long" is for a deliberate search.

Pick one with ``HYPOTHESIS_PROFILE=long .venv/bin/pytest tests/fuzz``. The deadline is per example: a parser
that takes seconds on a few kilobytes is a finding too (the bench/regex_worst.py kind).
"""

from __future__ import annotations

import os
from datetime import timedelta

from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=40, deadline=timedelta(seconds=5), derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("long", max_examples=2000, deadline=timedelta(seconds=10),
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
