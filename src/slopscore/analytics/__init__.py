"""The analyst report (``slopscore report``): dismissal rates per segment, calibration,
thresholds, drift and model versions, read from the review queue without changing it.
May import: every wing up to review. Not web or terminal (peers), demo or cli.
"""
