"""Extract: sentences, indicators, ATT&CK techniques, entities and claims, each with evidence."""
