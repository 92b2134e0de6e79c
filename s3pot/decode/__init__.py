"""Decoders: from prompts and evidence to pixel-accurate masks."""
