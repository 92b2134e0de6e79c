"""RealOcc-style synthetic occlusion: occluders composited onto face photos.

``compose`` (one image), ``cutouts`` (RGBA cut-outs placed by landmarks), ``procedural``
(polygons, ellipses, bars with textures), ``generate`` (a folder -> dataset layout).
Ground truth is always ``alpha > 0.5`` inside the face region F (the landmark face outline
shared with the parser), so it matches how the dev benchmark was built.
"""

from s3pot.eval.synth.compose import SynthResult, face_region_mask, synthesize

__all__ = ["SynthResult", "face_region_mask", "synthesize"]
