"""Occluder hints: known occluders found by their own detectors (backends by name)."""

from s3pot.occluders.base import (
    Occluder,
    OccluderDetector,
    build_occluder_detector,
    occluder_hint,
)

__all__ = ["Occluder", "OccluderDetector", "build_occluder_detector", "occluder_hint"]
