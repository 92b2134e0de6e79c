"""E4S regional GAN inversion (CVPR 2023) as a reference generator, in plain PyTorch.

Selected as ``build_generator("e4s", checkpoint=PATH)``; see :mod:`.generator`.
"""

from s3pot.reference.e4s.checkpoint import load_e4s, save_e4s
from s3pot.reference.e4s.generator import E4SGenerator, build_e4s_generator
from s3pot.reference.e4s.net import E4SConfig, E4SNet

__all__ = ["E4SConfig", "E4SGenerator", "E4SNet", "build_e4s_generator", "load_e4s", "save_e4s"]
