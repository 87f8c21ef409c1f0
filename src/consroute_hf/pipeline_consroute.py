"""``pipeline("tier-selection")``: route queries (strings or conversations) to a tier.

This module travels with every saved router as Hub remote code (``config.custom_pipelines`` names
it and ``save_pretrained`` copies it next to the modeling code), so it imports nothing from
``consroute_hf``: everything it needs comes from the model object it is given
(``encode_query``, ``extract_features``, ``route_features`` of a ``ConsRouterForTierSelection``).

Shapes: B queries in a batch, S tokens, D backbone hidden size.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from transformers import Pipeline

logger = logging.getLogger(__name__)

#: The task name under which the pipeline is registered and saved.
TIER_SELECTION_TASK = "tier-selection"


class TierSelectionPipeline(Pipeline):
    """Route each query to the cheapest tier predicted to answer consistently with the reference tier.

    Inputs: a string, a conversation (a list of ``{"role", "content"}`` messages, rendered with the
    device tokenizer's chat template and truncated by the router's documented rule, see
    ``ConsRouterForTierSelection.encode_query``), or a list of strings / conversations.

    Output per input: ``{"tier": str, "tier_index": int, "scores": {tier: float},
    "cluster": int | None, "thresholds": {tier: float}}`` (the router's ``RoutingDecision.to_dict()``).

    Call arguments:
        batch_size: queries per backbone forward pass (batches are right-aligned before the
            forward, so results do not depend on the tokenizer's padding side).
        profile / budget: name of a stored threshold profile (``config.threshold_profiles``)
            to use instead of the router's main calibration; ``budget`` is an alias.

    The tokenizer is the device LM's: a checkpoint saved with ``router.tokenizer`` set carries it,
    and a router object passed as ``model=`` lends its ``tokenizer`` attribute.
    """

    _load_tokenizer = None  # optional: loaded from the checkpoint when present, else router.tokenizer
    _load_processor = False
    _load_image_processor = False
    _load_video_processor = False
    _load_feature_extractor = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.tokenizer is None:
            self.tokenizer = getattr(self.model, "tokenizer", None)
        if self.tokenizer is None:
            raise ValueError(
                "The tier-selection pipeline needs the device LM's tokenizer: pass `tokenizer=` to pipeline(), "
                "set `router.tokenizer`, or save the router with its tokenizer attached so the checkpoint carries it."
            )
        if not hasattr(self.model, "route_features"):
            raise TypeError(
                f"The tier-selection pipeline needs a ConsRoute router, got {type(self.model).__name__}; load one "
                "with AutoModel.from_pretrained(..., trust_remote_code=True)."
            )

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(inputs, (list, tuple)) and len(inputs) == 0:
            raise ValueError("Empty batch: pass a query string, a conversation or a non-empty list of them.")
        return super().__call__(inputs, *args, **kwargs)

    def _sanitize_parameters(
        self, profile: str | None = None, budget: str | None = None, **unused: Any
    ) -> tuple[dict, dict, dict]:
        if unused:
            raise TypeError(
                f"Unknown tier-selection argument(s) {sorted(unused)}; accepted: batch_size, profile, budget."
            )
        if profile is not None and budget is not None and profile != budget:
            raise ValueError(f"`profile`={profile!r} and `budget`={budget!r} disagree; pass only one.")
        chosen = profile if profile is not None else budget
        postprocess_params: dict[str, Any] = {}
        if chosen is not None:
            available = sorted(self.model.config.threshold_profiles)
            if chosen not in available:
                raise ValueError(
                    f"Unknown threshold profile {chosen!r}; this router stores {available or 'no profiles'}."
                )
            postprocess_params["profile"] = chosen
        return {}, {}, postprocess_params

    def preprocess(self, inputs: Any) -> dict[str, torch.Tensor]:
        """One query -> ``{"input_ids": (1, S), "attention_mask": (1, S)}`` (templated query + prompt)."""
        query = getattr(inputs, "messages", inputs)  # the base class wraps conversations in a `Chat`
        prefix, prompt = self.model.encode_query(query, self.tokenizer)
        ids = torch.tensor([prefix + prompt], dtype=torch.long)
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}

    def _forward(self, model_inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """(B, S) ids and mask (either padding side) -> ``{"features": (B, D) float32}``."""
        input_ids, attention_mask = right_align(model_inputs["input_ids"], model_inputs["attention_mask"])
        return {"features": self.model.extract_features(input_ids, attention_mask).float()}

    def postprocess(self, model_outputs: dict[str, torch.Tensor], profile: str | None = None) -> dict[str, Any]:
        """``{"features": (1, D)}`` -> the query's routing decision as a dict."""
        decision = self.model.route_features(model_outputs["features"], profile=profile)[0]
        return decision.to_dict()


def right_align(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Move every row's real tokens to the left, keeping their order (right padding).

    Right padding keeps each token's position equal to a one-query-at-a-time prefill, which is how
    the router computes features in training and in ``route``.

    Args:
        input_ids, attention_mask: (B, S), mask 1 on real tokens.

    Returns:
        (input_ids, attention_mask), each (B, S), right-padded.
    """
    order = torch.argsort((attention_mask == 0).to(torch.int8), dim=1, stable=True)
    return input_ids.gather(1, order), attention_mask.gather(1, order)


def custom_pipelines_entry() -> dict[str, dict[str, Any]]:
    """The ``config.custom_pipelines`` value that lets ``pipeline(model=..., trust_remote_code=True)``
    find this pipeline in a checkpoint (the same shape ``Pipeline.save_pretrained`` writes)."""
    module = TierSelectionPipeline.__module__.rsplit(".", 1)[-1]
    return {
        TIER_SELECTION_TASK: {
            "impl": f"{module}.{TierSelectionPipeline.__name__}",
            "pt": ["AutoModel"],
            "type": "text",
        }
    }


__all__ = ["TierSelectionPipeline", "TIER_SELECTION_TASK", "custom_pipelines_entry", "right_align"]
