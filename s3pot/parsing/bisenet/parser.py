"""The BiSeNet face parser: 512-px ImageNet-normalised input, 19 classes -> our 12.

Class ids of the release (its own order, which is *not* the order of the CelebAMask-HQ
dataset's ``g_mask`` script): 0 background, 1 skin, 2 l_brow, 3 r_brow, 4 l_eye, 5 r_eye,
6 eye_g, 7 l_ear, 8 r_ear, 9 ear_r, 10 nose, 11 mouth, 12 u_lip, 13 l_lip, 14 neck,
15 neck_l, 16 cloth, 17 hair, 18 hat.

The 12 classes of the method note are E4S's own 12-class set, so the 19 -> 12 table is the
one E4S applies to this parser's output. Necklace, cloth and hat have no class of their own
there and become background (none of them is face, so the face region M is unaffected).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from s3pot.parsing.base import CLASS_ID, FaceParser
from s3pot.parsing.bisenet.checkpoint import load_bisenet
from s3pot.parsing.bisenet.model import BiSeNet

INPUT_SIZE = 512
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

CELEBAMASK_NAMES = (
    "background", "skin", "l_brow", "r_brow", "l_eye", "r_eye", "eye_g", "l_ear", "r_ear",
    "ear_r", "nose", "mouth", "u_lip", "l_lip", "neck", "neck_l", "cloth", "hair", "hat",
)
_TO_12 = {
    "background": "background", "skin": "skin", "l_brow": "eyebrows", "r_brow": "eyebrows",
    "l_eye": "eyes", "r_eye": "eyes", "eye_g": "eyeglasses", "l_ear": "ears", "r_ear": "ears",
    "ear_r": "earrings", "nose": "nose", "mouth": "mouth", "u_lip": "lip", "l_lip": "lip",
    "neck": "neck", "neck_l": "background", "cloth": "background", "hair": "hair",
    "hat": "background",
}
# LUT: CelebAMask-HQ id (release order) -> method-note class id.
CELEBAMASK_TO_12 = np.array([CLASS_ID[_TO_12[n]] for n in CELEBAMASK_NAMES], dtype=np.uint8)


def preprocess(aligned: np.ndarray, size: int = INPUT_SIZE) -> torch.Tensor:
    """(S,S,3) uint8 RGB -> (1,3,size,size) normalised tensor.

    Antialiased bilinear resampling, like the PIL ``resize(BILINEAR)`` the release used.
    """
    x = torch.from_numpy(np.ascontiguousarray(aligned)).permute(2, 0, 1)[None].float() / 255.0
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, (size, size), mode="bilinear", align_corners=False, antialias=True)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


class BiSeNetParser(FaceParser):
    """Parses with a loaded :class:`BiSeNet`; landmarks are not needed."""

    def __init__(self, net: BiSeNet, device: str = "cpu", input_size: int = INPUT_SIZE):
        self.net = net.to(device).eval()
        self.device = device
        self.input_size = input_size

    @torch.inference_mode()
    def parse_celebamask(self, aligned: np.ndarray) -> np.ndarray:
        """(S,S) uint8 map of the 19 release classes at the input size.

        The logits are upsampled straight to S (one bilinear step, aligned corners as in
        the release) instead of argmax at 512 then a nearest resize, which would alias.
        """
        s = aligned.shape[0]
        x = preprocess(aligned, self.input_size).to(self.device)
        logits = self.net(x, out_size=(s, aligned.shape[1]))
        return logits[0].argmax(0).to(torch.uint8).cpu().numpy()

    def parse(self, aligned: np.ndarray, landmarks_aligned: np.ndarray) -> np.ndarray:
        return CELEBAMASK_TO_12[self.parse_celebamask(aligned)]


def build_bisenet_parser(checkpoint: str, device: str = "cpu") -> FaceParser:
    """Parser from ``79999_iter.pth`` (or any file in its layout); strict loading."""
    return BiSeNetParser(load_bisenet(checkpoint, device=device), device=device)
