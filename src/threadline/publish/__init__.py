"""Publish stage."""
