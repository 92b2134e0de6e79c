"""BiSeNet face parser (19-class CelebAMask-HQ release ``79999_iter.pth``), selected as
``build_parser("bisenet", checkpoint=PATH)``."""

from s3pot.parsing.bisenet.checkpoint import load_bisenet, save_bisenet
from s3pot.parsing.bisenet.model import BiSeNet, BiSeNetConfig
from s3pot.parsing.bisenet.parser import CELEBAMASK_TO_12, BiSeNetParser, build_bisenet_parser

__all__ = [
    "CELEBAMASK_TO_12",
    "BiSeNet",
    "BiSeNetConfig",
    "BiSeNetParser",
    "build_bisenet_parser",
    "load_bisenet",
    "save_bisenet",
]
