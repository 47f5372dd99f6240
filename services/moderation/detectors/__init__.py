"""Detectors that score a post's text; each loads its model once and never logs the text."""
