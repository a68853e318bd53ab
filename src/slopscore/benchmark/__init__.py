"""The real-image benchmark (``slopscore benchmark``): real files arranged into simulated platform
timelines, scored out of fold as in production, measured per scenario with bootstrap intervals.
May import: every wing up to training (media ... config, batch, evaluation, training); not review or above.
"""
