"""Parsing stage: 12-class face parsing in the aligned frame (backends by name)."""

from s3pot.parsing.base import CLASSES, FACE_REGION_CLASSES, FaceParser, build_parser, face_region

__all__ = ["CLASSES", "FACE_REGION_CLASSES", "FaceParser", "build_parser", "face_region"]
