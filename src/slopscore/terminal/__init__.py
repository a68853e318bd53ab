"""Terminal output shared by the command line and the demo: Rich consoles, tables, progress bars.
May import: every wing up to review. Not web or analytics (peers), demo or cli.
"""
