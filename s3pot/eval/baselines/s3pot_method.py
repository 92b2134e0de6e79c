"""``s3pot``: the project's own pipeline, scored like any other method."""

from __future__ import annotations

import numpy as np

from s3pot.eval.predictions import Prediction


class S3potMethod:
    name = "s3pot"

    def __init__(self, pipeline_config=None, predictor=None) -> None:
        if predictor is None:
            from s3pot.pipeline import PipelineConfig, S3potPredictor

            predictor = S3potPredictor(pipeline_config or PipelineConfig())
        self.predictor = predictor

    def predict(self, image: np.ndarray) -> Prediction:
        result = self.predictor.segment(image)
        h, w = image.shape[:2]
        occ = result.occlusion if result.occlusion is not None else np.zeros((h, w), bool)
        return Prediction(np.asarray(occ, bool), None if result.visible is None
                          else np.asarray(result.visible, bool))
