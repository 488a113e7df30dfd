"""Curation: near-duplicate detection, decontamination, difficulty-aware selection."""
