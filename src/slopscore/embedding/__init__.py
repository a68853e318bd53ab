"""Image -> L2-normalised embedding: the backbone registry and its loading (open_clip,
EfficientNet-Lite0), preprocessing, batched encoding beside decoding workers, the content-hash caches.
May import: media. Not provenance (a peer), nor anything above.
"""
