"""Segmenters: reference contrast -> prompts -> decoder, one backend per folder entry."""

from s3pot.segmenters.base import SegmentationOutput, Segmenter, build_segmenter

__all__ = ["SegmentationOutput", "Segmenter", "build_segmenter"]
