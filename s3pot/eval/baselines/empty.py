"""``empty``: predicts no occlusion anywhere. Reads as the floor of every metric."""

from __future__ import annotations

import numpy as np

from s3pot.eval.predictions import Prediction


class EmptyBaseline:
    name = "empty"

    def predict(self, image: np.ndarray) -> Prediction:
        return Prediction(np.zeros(image.shape[:2], bool))
