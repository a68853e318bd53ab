"""How good a scorer is: metrics with intervals (numbers only), evaluation runs, robustness to
recompression and resizing, plots and the HTML evaluation report.
May import: media, provenance, embedding, signals, model, config, batch.
"""
