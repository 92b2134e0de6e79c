"""Frozen image backbones. ``sam``: the official Segment Anything Model (vit_b/l/h)."""
