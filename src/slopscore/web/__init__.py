"""The moderator review web app (``slopscore serve``); see :func:`create_app`."""

from slopscore.web.app import WebSettings, create_app

__all__ = ["WebSettings", "create_app"]
