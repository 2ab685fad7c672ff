"""Measuring things: pure metrics, batch grading of files, reports."""
