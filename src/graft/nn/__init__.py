"""Backbones and shared building blocks."""
