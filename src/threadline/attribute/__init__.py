"""Attribute stage: rank ATT&CK intrusion sets for a case, with calibrated, explained probabilities."""

from threadline.attribute.engine import Attribution, Candidate, attribute
from threadline.attribute.observations import Observations, ReportClaim, observations_from_analysis, parse_observations

__all__ = ["Attribution", "Candidate", "Observations", "ReportClaim", "attribute", "observations_from_analysis",
           "parse_observations"]
