"""Methods ``s3pot eval --method NAME`` can run, by name.

``empty`` (flags nothing: the floor every metric is read against), ``skin`` (a skin-colour
rule inside the face region), ``diff`` (raw-vs-reference difference, the contrast idea
without prompts), ``supervised-synth`` (a small U-Net trained on synthetic composites, the
RealOcc recipe) and ``s3pot`` (this project's pipeline).
"""

from __future__ import annotations

from s3pot.registry import Registry

METHODS: Registry = Registry(
    "method",
    {
        "empty": "s3pot.eval.baselines.empty:EmptyBaseline",
        "skin": "s3pot.eval.baselines.skin:SkinBaseline",
        "diff": "s3pot.eval.baselines.diff:DiffBaseline",
        "supervised-synth": "s3pot.eval.baselines.supervised_synth:build_supervised_synth",
        "s3pot": "s3pot.eval.baselines.s3pot_method:S3potMethod",
    },
)


def build_method(name: str, **kwargs):
    """A method by name (raises ValueError listing the names for an unknown one)."""
    return METHODS.build(name, **kwargs)
