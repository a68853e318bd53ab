"""The ``slopscore`` command line: thin commands that parse, validate and call the wings below.
May import: every wing. Nothing imports it.
"""
