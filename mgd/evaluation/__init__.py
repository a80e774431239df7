"""Evaluation harness: DotPrompts-style cases, metrics, compile checks, runs, reports."""
