"""Self-supervised training of the screening network (no occlusion masks anywhere).

``data``: which files of a training folder are photos (ground truth is never listed nor
opened) and how a photo becomes faces with references. ``cache``: references and SAM
embeddings on disk, keyed by content hash and configuration. ``train``: the loop (AdamW,
cosine schedule, per-epoch checkpoints, exact resume, DDP through torchrun).
"""
