"""Reference stage: regenerate an occlusion-free face in the aligned frame."""

from s3pot.reference.base import Reference, ReferenceGenerator, build_generator

__all__ = ["Reference", "ReferenceGenerator", "build_generator"]
