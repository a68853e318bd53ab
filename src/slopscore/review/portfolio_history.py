"""An artist's earlier works from the queue database, as history rows for scoring at upload time.

The ``artworks`` table holds every work the batch job (or the API, when asked to queue) has
seen; its ``source`` comes from the trusted manifest or the API's own upload store, never
from a request. A work whose latest moderator decision confirmed a concern is labelled
``ai_slop``, so it is not part of the artist's accepted portfolio, as a labelled history
manifest would say; every other work counts as accepted.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from slopscore.media.manifest import Label, ManifestRow
from slopscore.review.decisions import latest_per_item
from slopscore.review.schema import Artwork, Decision, Outcome
from slopscore.review.validation import as_utc

__all__ = ["DEFAULT_MAX_HISTORY", "earlier_works"]

#: The most recent works per artist read as history (bounds the work per request).
DEFAULT_MAX_HISTORY = 500


def earlier_works(engine: Engine, artist_ids: Collection[str], exclude_item_ids: Collection[str] = (),
                  max_per_artist: int = DEFAULT_MAX_HISTORY) -> list[ManifestRow]:
    """The artists' works in ``artworks`` (newest ``max_per_artist`` each), oldest first.

    Works without a source or an upload time are left out (nothing to compare with);
    ``exclude_item_ids`` (the uploads being scored) are never history.
    """
    artists = sorted(set(artist_ids))
    if not artists:
        return []
    newest = func.row_number().over(partition_by=Artwork.artist_id,
                                    order_by=(Artwork.uploaded_at.desc(), Artwork.item_id.desc()))
    ranked = (select(Artwork.item_id, Artwork.artist_id, Artwork.uploaded_at, Artwork.source,
                     Artwork.title, newest.label("rank"))
              .where(Artwork.artist_id.in_(artists), Artwork.source.is_not(None),
                     Artwork.uploaded_at.is_not(None))
              .subquery())
    query = (select(ranked).where(ranked.c.rank <= max_per_artist)
             .order_by(ranked.c.uploaded_at, ranked.c.item_id))
    decisions = latest_per_item(Decision.artist_id.in_(artists)).subquery()
    confirmed_query = select(decisions.c.item_id).where(decisions.c.rank == 1,
                                                        decisions.c.outcome == Outcome.CONFIRMED.value)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
        confirmed = set(connection.execute(confirmed_query).scalars())
    excluded = set(exclude_item_ids)
    return [ManifestRow(item_id=r.item_id, artist_id=r.artist_id, path=r.source,
                        uploaded_at=as_utc(r.uploaded_at), title=r.title,
                        label=Label.AI_SLOP if r.item_id in confirmed else None)
            for r in rows if r.item_id not in excluded]
