"""Evaluation: metrics, dataset readers, baselines and a synthetic occlusion generator.

Everything here is scoring machinery. Ground truth is read only by :mod:`s3pot.eval.runner`
and :mod:`s3pot.eval.metrics`; methods receive the image and nothing else.
"""
