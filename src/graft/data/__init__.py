"""Datasets, formats and generated data."""
