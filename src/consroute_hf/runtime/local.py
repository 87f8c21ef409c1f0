"""Token-by-token decoding with a local causal LM from a KV cache that is already filled.

The runtime prefills the device model once (for routing) and continues from that cache here, so
a device-routed answer never pays for a second prefill. Each forward pass takes the model's lock:
concurrent requests interleave step by step and never run the model at the same time.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Iterator, Sequence

import torch
from transformers import DynamicCache, LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper

from .types import Deadline, GenerationParams

logger = logging.getLogger(__name__)


class LocalLM:
    """A causal LM + tokenizer behind one lock.

    Args:
        causal_lm: any ``AutoModelForCausalLM`` model (eval mode is set here).
        tokenizer: its tokenizer.
    """

    def __init__(self, causal_lm: Any, tokenizer: Any) -> None:
        self.model = causal_lm.eval()
        self.tokenizer = tokenizer
        self.lock = threading.Lock()
        eos = getattr(causal_lm.generation_config, "eos_token_id", None)
        eos_ids = set(eos if isinstance(eos, (list, tuple)) else [eos] if eos is not None else [])
        if tokenizer.eos_token_id is not None:
            eos_ids.add(tokenizer.eos_token_id)
        self.eos_token_ids = frozenset(int(i) for i in eos_ids)
        self.max_positions = getattr(causal_lm.config, "max_position_embeddings", None)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def new_cache(self) -> DynamicCache:
        return DynamicCache(config=self.model.config)

    def prefill(
        self, input_ids: Sequence[int], cache: DynamicCache, logits_at: int = -1, output_hidden_states: bool = False,
    ) -> Any:
        """Run ``input_ids`` (S,) into ``cache``, computing logits only at position ``logits_at``.

        Returns:
            The model output: ``logits`` (1, 1, V) and, when asked, ``hidden_states`` (L+1 x (1, S, D)).
        """
        ids = torch.tensor([list(input_ids)], dtype=torch.long, device=self.device)
        keep: int | torch.Tensor = 1 if logits_at in (-1, len(input_ids) - 1) else torch.tensor([logits_at], device=self.device)
        with self.lock, torch.inference_mode():
            return self.model(
                input_ids=ids, past_key_values=cache, use_cache=True, logits_to_keep=keep,
                output_hidden_states=output_hidden_states,
            )

    def decode(
        self, cache: DynamicCache, next_logits: torch.Tensor, params: GenerationParams, deadline: Deadline,
    ) -> "TokenStream":
        """Continue generating from ``cache`` whose next-token logits (1, V) are ``next_logits``."""
        return TokenStream(self, cache, next_logits, params, deadline)


class TokenStream:
    """Iterating yields text deltas of the answer; afterwards ``text``, ``completion_tokens``,
    ``prompt_tokens`` and ``finish_reason`` describe it.

    Greedy when ``params.temperature == 0`` (equal to ``generate(do_sample=False)``), otherwise
    temperature / top-p sampling with transformers' logits warpers.
    """

    def __init__(
        self, lm: LocalLM, cache: DynamicCache, next_logits: torch.Tensor, params: GenerationParams, deadline: Deadline,
    ) -> None:
        self._lm = lm
        self._cache = cache
        self._next_logits = next_logits
        self._params = params
        self._deadline = deadline
        self.prompt_tokens: int | None = cache.get_seq_length()
        self.completion_tokens: int | None = 0
        self.finish_reason = "length"
        self.text = ""

    def __iter__(self) -> Iterator[str]:
        lm, params = self._lm, self._params
        warpers = LogitsProcessorList()
        generator = None
        if params.temperature > 0:
            warpers.append(TemperatureLogitsWarper(params.temperature))
            if params.top_p < 1.0:
                warpers.append(TopPLogitsWarper(params.top_p))
            generator = torch.Generator(device=lm.device)
            if params.seed is not None:
                generator.manual_seed(params.seed)
            else:
                generator.seed()
        hold_back = max((len(s) for s in params.stop), default=1) - 1
        generated: list[int] = []
        emitted = 0
        logits = self._next_logits
        while True:
            self._deadline.check("generating on the device")
            token = self._pick(logits, warpers, generator, generated)
            if token in lm.eos_token_ids:
                self.finish_reason = "stop"
                break
            generated.append(token)
            self.completion_tokens = len(generated)
            text = lm.tokenizer.decode(generated, skip_special_tokens=True)
            stop_at = _first_stop(text, params.stop)
            if stop_at is not None:
                self.text = text[:stop_at]
                self.finish_reason = "stop"
                if stop_at > emitted:
                    yield self.text[emitted:]
                return
            self.text = text
            safe = len(text) - hold_back
            if text.endswith("\ufffd"):  # an incomplete multi-byte character: wait for the rest
                safe = min(safe, len(text) - 1)
            if safe > emitted:
                yield text[emitted:safe]
                emitted = safe
            at_limit = lm.max_positions is not None and self._cache.get_seq_length() + 1 >= lm.max_positions
            if len(generated) >= params.max_new_tokens or at_limit:
                self.finish_reason = "length"
                break
            ids = torch.tensor([[token]], dtype=torch.long, device=lm.device)
            with lm.lock, torch.inference_mode():
                logits = lm.model(input_ids=ids, past_key_values=self._cache, use_cache=True).logits[:, -1]
        if len(self.text) > emitted:
            yield self.text[emitted:]

    def _pick(
        self, logits: torch.Tensor, warpers: LogitsProcessorList, generator: torch.Generator | None, generated: list[int]
    ) -> int:
        """(1, V) logits -> the next token id."""
        with torch.inference_mode():
            scores = logits.float().reshape(1, -1)
            if generator is None:
                return int(scores.argmax(-1))
            context = torch.tensor([generated or [0]], dtype=torch.long, device=scores.device)
            probs = torch.softmax(warpers(context, scores), dim=-1)
            return int(torch.multinomial(probs, 1, generator=generator))


def _first_stop(text: str, stops: Sequence[str]) -> int | None:
    """Index where the earliest stop string starts in ``text``, or None."""
    found = [index for index in (text.find(stop) for stop in stops if stop) if index >= 0]
    return min(found) if found else None
