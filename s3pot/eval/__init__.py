"""Evaluation: metrics, dataset readers, baselines and a synthetic occlusion generator.

Everything here is scoring machinery. Readers load ground truth lazily and only
:mod:`s3pot.eval.runner` asks for it; methods receive the image and nothing else.
"""
