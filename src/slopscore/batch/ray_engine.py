"""Pass 1 of the batch job on Ray Data: files read, described and encoded by an actor pool.

``slopscore score --engine ray`` runs the same job as the local engine; only the
per-file work moves to Ray. Each actor loads the scorer's backbone once (on a GPU
when the cluster has them) and runs exactly the local code path
(:func:`slopscore.embedding.encoder.embed_sources` with the file-signal reader), so outputs
match the local engine's. The driver stores the returned embeddings in its own
cache and does pass 2 (portfolio context and scoring) itself.

Paths in the manifest must be readable from every worker node (shared storage or
URIs). Ray is an optional extra: ``pip install 'slopscore[ray]'``.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa

from slopscore.batch.file_analysis import records_from_results
from slopscore.batch.score_output import storage_errors
from slopscore.config import Settings
from slopscore.embedding.cache import EmbeddingCache
from slopscore.embedding.encoder import EmbedResult
from slopscore.media.decode import SkipReason
from slopscore.media.manifest import ManifestRow

__all__ = ["RayFileAnalyser", "RayUnavailableError"]

#: Environment passed to Ray workers (offline switches, test-only backbone permission).
_FORWARDED_ENV = ("SLOPSCORE_ALLOW_TEST_BACKBONE", "HF_HUB_OFFLINE", "HF_HOME",
                  "OPEN_CLIP_CACHE_DIR", "TORCH_HOME", "SLOPSCORE_WEIGHTS_DIR")


class RayUnavailableError(RuntimeError):
    """Ray is not installed, or the cluster cannot be reached."""


class _FileActor:
    """A Ray Data actor: one loaded encoder, many batches of paths."""

    def __init__(self, settings: dict):
        from slopscore.batch.embed_job import open_encoder
        from slopscore.embedding.cache import SignalCache
        from slopscore.signals.file_signals import SIGNALS_VERSION, FileSignalReader

        self.settings = Settings.model_validate(settings)
        _, self.encoder = open_encoder(self.settings)
        backbone = self.encoder.backbone
        enabled = self.settings.cache.enabled
        self.cache = EmbeddingCache(self.settings.cache.dir, backbone.backbone_id,
                                    backbone.preprocess.id) if enabled else None
        self.signals = FileSignalReader(
            self.settings.images.max_pixels,
            SignalCache(self.settings.cache.dir, SIGNALS_VERSION) if enabled else None)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from slopscore.embedding.encoder import embed_sources

        paths = [str(p) for p in batch["path"]]
        results = list(embed_sources(
            paths, self.encoder, cache=self.cache, batch_size=max(1, len(paths)), num_workers=0,
            max_pixels=self.settings.images.max_pixels, max_bytes=self.settings.images.max_bytes,
            signals=self.signals,
        ))
        dim = self.encoder.backbone.embed_dim
        vectors = np.zeros((len(results), dim), dtype=np.float32)
        for i, result in enumerate(results):
            if result.vector is not None:
                vectors[i] = result.vector
        return {
            "position": np.asarray(batch["position"]),
            "sha256": np.array([r.sha256 or "" for r in results], dtype=object),
            "has_vector": np.array([r.vector is not None for r in results]),
            "vector": vectors,
            "from_cache": np.array([r.from_cache for r in results]),
            "skip_reason": np.array([r.skip_reason.value if r.skip_reason else "" for r in results],
                                    dtype=object),
            "detail": np.array([r.detail or "" for r in results], dtype=object),
            "signals": np.array([json.dumps(r.signals) if r.signals is not None else ""
                                 for r in results], dtype=object),
        }


class RayFileAnalyser:
    """Runs pass 1 of the batch job on a Ray Data actor pool (see module docs)."""

    name = "ray"

    def __init__(self, settings: Settings, backbone_id: str, preprocess_id: str):
        self.settings = settings
        self.backbone_id = backbone_id
        self.preprocess_id = preprocess_id
        self.runtime = f"runtime {settings.embedding.runtime} in each actor"
        self.gpus_per_actor = 1 if _cluster_gpus() >= settings.batch.ray_actors else 0

    @classmethod
    def start(cls, settings: Settings, scorer) -> "RayFileAnalyser":
        """Connect to ``settings.batch.ray_address`` (or start Ray here) for ``scorer``'s backbone."""
        _init_ray(settings.batch.ray_address)
        return cls(settings, scorer.info.backbone_id, scorer.info.preprocess_id)

    def analyse(self, rows: Sequence[ManifestRow], is_new: bool, cache: EmbeddingCache,
                advance: Callable[[int], None] = lambda n: None) -> pa.RecordBatch:
        import ray.data

        items = [{"position": i, "path": row.path} for i, row in enumerate(rows)]
        dataset = ray.data.from_items(items).map_batches(
            _FileActor,
            fn_constructor_kwargs={"settings": self.settings.model_dump(mode="json")},
            batch_size=self.settings.embedding.batch_size,
            batch_format="numpy",
            concurrency=self.settings.batch.ray_actors,
            num_gpus=self.gpus_per_actor,
            num_cpus=1,
        )
        results: list[EmbedResult | None] = [None] * len(rows)
        fresh: dict[str, np.ndarray] = {}
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            for i, position in enumerate(batch["position"]):
                result = _result(batch, i, int(position))
                results[int(position)] = result
                if result.vector is not None:
                    fresh[result.sha256] = result.vector
            advance(len(batch["position"]))
        missing = [i for i, r in enumerate(results) if r is None]
        if missing:
            raise RayUnavailableError(f"Ray returned no result for {len(missing)} rows")
        with storage_errors("cache", cache.directory, kinds=(sqlite3.Error,)):  # a full disk mid-run
            cache.put_many(fresh)  # pass 2 reads embeddings from the driver's cache
        return records_from_results(rows, results, is_new)


def _result(batch: dict[str, np.ndarray], i: int, position: int) -> EmbedResult:
    reason = str(batch["skip_reason"][i])
    signals = str(batch["signals"][i])
    return EmbedResult(
        index=position,
        sha256=str(batch["sha256"][i]) or None,
        vector=np.array(batch["vector"][i], dtype=np.float32) if batch["has_vector"][i] else None,
        skip_reason=SkipReason(reason) if reason else None,
        detail=str(batch["detail"][i]) or None,
        from_cache=bool(batch["from_cache"][i]),
        signals=json.loads(signals) if signals else None,
    )


def _init_ray(address: str | None) -> None:
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailableError(
            "--engine ray needs Ray: pip install 'slopscore[ray]'") from exc
    if ray.is_initialized():
        return
    env = {name: os.environ[name] for name in _FORWARDED_ENV if name in os.environ}
    options = dict(runtime_env={"env_vars": env}, include_dashboard=False, log_to_driver=False,
                   logging_level="ERROR")
    if address is None:  # a private local instance on loopback
        options.update(_node_ip_address="127.0.0.1", num_cpus=os.cpu_count())
    try:
        ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RayUnavailableError(f"cannot start or reach Ray at {address or 'this machine'}: {exc}") \
            from exc
    _quiet_progress()


def _quiet_progress() -> None:
    """Ray Data's own progress bars would fight slopscore's on the terminal."""
    from ray.data import DataContext

    context = DataContext.get_current()
    context.enable_progress_bars = False
    context.verbose_progress = False


def _cluster_gpus() -> int:
    import ray

    return int(ray.cluster_resources().get("GPU", 0))
