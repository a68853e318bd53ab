"""Real files from ../shared/realdata (skipped when the corpus is absent)."""

from __future__ import annotations

import numpy as np

from slopscore.embedding.encoder import ImageEncoder, embed_sources
from slopscore.media.decode import ImageLoadError, SkipReason, load_image


def test_every_real_artwork_decodes_and_embeds_with_effnet(realdata, effnet):
    paths = sorted(str(p) for folder in ("ai", "human") for p in (realdata / folder).iterdir())
    assert len(paths) >= 70
    encoder = ImageEncoder(effnet, device="cpu", precision="fp32")
    results = list(embed_sources(paths, encoder, batch_size=16, num_workers=1))
    failed = [(paths[r.index], r.skip_reason) for r in results if r.vector is None]
    assert failed == []
    vectors = np.stack([r.vector for r in results])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert len({r.sha256 for r in results}) == len(paths)


def test_pdf_in_provenance_is_not_an_image(realdata):
    pdfs = list((realdata / "provenance").glob("*.pdf"))
    assert pdfs
    for pdf in pdfs:
        try:
            load_image(pdf)
        except ImageLoadError as exc:
            assert exc.reason is SkipReason.NOT_AN_IMAGE
        else:
            raise AssertionError(f"{pdf.name} decoded as an image")
