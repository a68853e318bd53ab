"""Features -> scores: the calibrated detector P(AI), the triage combination and its reasons,
the saved scorer, and the MLflow registry that stores and loads it.
May import: media, provenance, embedding, signals.
"""
