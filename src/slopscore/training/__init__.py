"""Fitting a scorer on a labelled manifest: artist-grouped splits, the detector and triage fits,
the held-out evaluation, and the run and model logged to MLflow.
May import: every wing up to evaluation (media ... config, batch, evaluation).
"""
