"""s3pot: contrast-driven face occlusion segmentation (S³POT).

Pipeline stages, one module (or folder of backends) each:

faces -> parsing -> reference -> backbone -> prompts (contrast) -> decode -> paste back

The public entry point is :class:`s3pot.pipeline.S3potPredictor`.
"""

from s3pot.types import FaceResult, PhotoResult

__version__ = "0.1.0"

__all__ = ["FaceResult", "PhotoResult", "S3potPredictor", "__version__"]


def __getattr__(name: str):
    # Lazy import keeps `import s3pot` cheap (no mediapipe / torch until needed).
    if name == "S3potPredictor":
        from s3pot.pipeline import S3potPredictor

        return S3potPredictor
    raise AttributeError(name)
