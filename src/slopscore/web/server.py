"""The HTTP server around the app: uvicorn's settings for ``slopscore serve``.

Uvicorn trusts ``X-Forwarded-For`` from loopback by default, which would let any local
client choose the address the login throttle sees. Here proxy headers are read only
when ``forwarded_allow_ips`` names the proxies to trust; otherwise the client address
is always the connection's peer.
"""

from __future__ import annotations

__all__ = ["server_config"]


def server_config(app, *, host: str = "127.0.0.1", port: int = 8000, forwarded_allow_ips: str | None = None,
                  access_log: bool = True):
    """A ``uvicorn.Config`` serving ``app``.

    Parameters
    ----------
    app : ASGI app
        From :func:`slopscore.web.app.create_app`.
    host, port : str, int
        Where to listen; ``port`` 0 lets the system pick a free one.
    forwarded_allow_ips : str, optional
        Comma-separated addresses or networks of reverse proxies whose ``X-Forwarded-For``
        and ``X-Forwarded-Proto`` are believed (``*`` trusts any peer: only behind a proxy
        that is the sole way in). None or empty: no proxy headers are read.
    access_log : bool
        Log every request.
    """
    import uvicorn

    trusted = ",".join(part.strip() for part in (forwarded_allow_ips or "").split(",") if part.strip())
    options = {"proxy_headers": bool(trusted)}
    if trusted:
        options["forwarded_allow_ips"] = trusted
    return uvicorn.Config(app, host=host, port=port, access_log=access_log, server_header=False,
                          log_level="info", timeout_graceful_shutdown=5, **options)
