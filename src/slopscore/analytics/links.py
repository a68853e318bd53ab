"""Links from the report to each item's page on the review app (``slopscore serve``).

The app's item page is ``/items/{queue item id}``: the queue row's integer id (one upload
scored by one model version), not the member-supplied ``item_id``, which is only ever the
link's *text* (escaped by the template). The base address is checked to be a plain http(s)
URL, so a ``javascript:`` or ``data:`` address can never become a link, and every path
segment is percent-encoded.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

__all__ = ["DEFAULT_QUEUE_URL", "item_href", "queue_base"]

#: Where ``slopscore serve`` listens by default.
DEFAULT_QUEUE_URL = "http://127.0.0.1:8000"


def queue_base(url: str) -> str:
    """``url`` as a base for item links: http(s), a host, no query or fragment, no trailing ``/``.

    Raises
    ------
    ValueError
        Any other scheme, no host, a query, a fragment, or credentials in the URL.
    """
    parts = urlsplit(str(url).strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"the queue URL must be an http(s) address with a host; got {url!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"the queue URL must not carry a query, fragment or credentials; got {url!r}")
    path = quote(parts.path.rstrip("/"), safe="/%")
    return urlunsplit((parts.scheme.lower(), parts.netloc, path, "", ""))


def item_href(base: str, queue_item_id: object) -> str:
    """The item page ``{base}/items/{queue_item_id}``, the id percent-encoded as one segment."""
    return f"{base}/items/{quote(str(queue_item_id), safe='')}"
