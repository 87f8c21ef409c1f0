"""Consistency scorers: how much a candidate response agrees with a reference response, in [0, 1].

Every scorer has ``score(candidates, references) -> np.ndarray`` of shape ``(N,)`` (float32,
values in [0, 1]) for ``N`` aligned text pairs, works in batches and shows a progress bar.
``fingerprint`` names the scorer and its model (part of the routing-dataset cache key).

* :class:`CrossEncoderConsistencyScorer` - any Hugging Face cross-encoder reranker; sigmoid of its logit.
* :class:`CausalLMJudgeScorer` - a causal LM asked whether two answers agree; P("yes") from the
  next-token logits (restricted to the "yes" and "no" tokens, as Qwen3-Reranker is used).
* :class:`EmbeddingConsistencyScorer` - a sentence-transformers bi-encoder; cosine clipped to [0, 1]
  (bf16 autocast on CPUs with native bf16).
* :class:`AnswerAgreementScorer` - 1.0 when the extracted final answers are equivalent, else 0.0.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from .graders import answers_agree, extract_answer

logger = logging.getLogger(__name__)

__all__ = [
    "ConsistencyScorer",
    "CrossEncoderConsistencyScorer",
    "CausalLMJudgeScorer",
    "EmbeddingConsistencyScorer",
    "AnswerAgreementScorer",
    "SCORER_NAMES",
    "make_scorer",
]

DEFAULT_JUDGE_PROMPT = (
    "Do the two answers below reach the same final answer? Reply with yes or no.\n\n"
    "Answer A:\n{candidate}\n\nAnswer B:\n{reference}"
)


def _check_pairs(candidates: Sequence[str], references: Sequence[str]) -> None:
    if isinstance(candidates, str) or isinstance(references, str):
        raise TypeError("`candidates` and `references` must be lists of strings, not a single string.")
    if len(candidates) != len(references):
        raise ValueError(f"Got {len(candidates)} candidates but {len(references)} references; they must be aligned pairs.")
    bad = [i for i, t in enumerate(list(candidates) + list(references)) if not isinstance(t, str)]
    if bad:
        raise TypeError(f"All candidates and references must be strings (first bad position: {bad[0]}).")


class ConsistencyScorer:
    """Base class: validates the pairs and returns ``(N,)`` float32 scores in [0, 1]."""

    fingerprint: str = "scorer"

    def score(self, candidates: Sequence[str], references: Sequence[str]) -> np.ndarray:
        """Consistency of each candidate with its reference: ``(N,)`` float32 in [0, 1]."""
        _check_pairs(candidates, references)
        if len(candidates) == 0:
            return np.zeros(0, dtype=np.float32)
        scores = np.asarray(self._score(list(candidates), list(references)), dtype=np.float32)
        return np.clip(scores, 0.0, 1.0)

    def _score(self, candidates: list[str], references: list[str]) -> np.ndarray:
        raise NotImplementedError


class CrossEncoderConsistencyScorer(ConsistencyScorer):
    """A cross-encoder reranker (e.g. ``BAAI/bge-reranker-base``) scoring (candidate, reference) pairs.

    Args:
        model_name_or_path: Hub name or local folder of a sequence-classification model with one
            output logit (its relevance score).
        batch_size: pairs per forward pass.
        max_length: tokens per pair (truncated beyond).
        device: torch device (default: CPU).
    """

    def __init__(self, model_name_or_path: str, batch_size: int = 16, max_length: int = 512, device: str | None = None):
        from sentence_transformers import CrossEncoder

        self.model = CrossEncoder(
            str(model_name_or_path), device=device or "cpu", max_length=max_length, activation_fn=torch.nn.Sigmoid(),
        )
        num_labels = self.model.config.num_labels
        if num_labels != 1:
            raise ValueError(
                f"{model_name_or_path} has {num_labels} output labels; a cross-encoder reranker with a single "
                "relevance logit is needed."
            )
        self.batch_size = batch_size
        self.fingerprint = f"cross-encoder:{model_name_or_path}:{max_length}"

    def _score(self, candidates: list[str], references: list[str]) -> np.ndarray:
        return self.model.predict(
            list(zip(candidates, references)), batch_size=self.batch_size, show_progress_bar=True, convert_to_numpy=True,
        ).reshape(-1)


def _load_causal_lm(model_name_or_path: str, dtype: torch.dtype | None = None):
    """A causal LM and its tokenizer: ``"smollm2-135m-instruct"`` (offline GGUF) or any name/path."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ..offline_models import OFFLINE_DEVICE_LMS, offline_gguf_file

    kwargs: dict[str, Any] = {}
    if model_name_or_path in OFFLINE_DEVICE_LMS:
        gguf = offline_gguf_file(model_name_or_path)
        folder, kwargs["gguf_file"] = str(gguf.parent), gguf.name
    else:
        folder = model_name_or_path
    tokenizer = AutoTokenizer.from_pretrained(folder, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, **kwargs)
    return model.eval(), tokenizer


class CausalLMJudgeScorer(ConsistencyScorer):
    """A causal LM judge: P("yes") that two answers agree, read from the next-token logits.

    The prompt (``prompt_template`` with ``{candidate}`` and ``{reference}``) is wrapped in the
    tokenizer's chat template when it has one; the score is ``softmax([logit_no, logit_yes])[1]``
    at the last position. Each answer is cut to ``max_answer_tokens`` tokens (its end, where the
    final answer is, is kept).

    Args:
        model: ``"smollm2-135m-instruct"`` (offline GGUF), a Hub name / local folder, or a loaded
            ``PreTrainedModel`` (then ``tokenizer`` is required).
        tokenizer: tokenizer for a loaded model.
        yes_token / no_token: words whose first token carries the verdict.
    """

    def __init__(
        self,
        model: Any = "smollm2-135m-instruct",
        tokenizer: Any = None,
        prompt_template: str = DEFAULT_JUDGE_PROMPT,
        batch_size: int = 8,
        max_answer_tokens: int = 256,
        yes_token: str = "yes",
        no_token: str = "no",
    ):
        if isinstance(model, (str, Path)):
            name = str(model)
            model, loaded_tokenizer = _load_causal_lm(name)
            tokenizer = tokenizer or loaded_tokenizer
        else:
            name = getattr(model.config, "_name_or_path", type(model).__name__) or type(model).__name__
            if tokenizer is None:
                raise ValueError("Pass `tokenizer=` together with a loaded model.")
        if "{candidate}" not in prompt_template or "{reference}" not in prompt_template:
            raise ValueError("prompt_template must contain the {candidate} and {reference} fields.")
        self.model, self.tokenizer = model.eval(), tokenizer
        self.prompt_template, self.batch_size, self.max_answer_tokens = prompt_template, batch_size, max_answer_tokens
        self.yes_id = self._first_token(yes_token)
        self.no_id = self._first_token(no_token)
        if self.yes_id == self.no_id:
            raise ValueError(f"{yes_token!r} and {no_token!r} start with the same token; choose other verdict words.")
        self.fingerprint = f"judge:{name}:{prompt_template}:{max_answer_tokens}:{yes_token}/{no_token}"

    def _first_token(self, word: str) -> int:
        ids = self.tokenizer.encode(word, add_special_tokens=False)
        if not ids:
            raise ValueError(f"The tokenizer encodes {word!r} to no tokens.")
        return ids[0]

    def _shorten(self, text: str) -> str:
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        if len(ids) <= self.max_answer_tokens:
            return text
        return self.tokenizer.decode(ids[-self.max_answer_tokens :])

    def _prompt(self, candidate: str, reference: str) -> str:
        content = self.prompt_template.format(candidate=self._shorten(candidate), reference=self._shorten(reference))
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(
                [{"role": "user", "content": content}], tokenize=False, add_generation_prompt=True,
            )
        return content + "\nAnswer:"

    @torch.no_grad()
    def _score(self, candidates: list[str], references: list[str]) -> np.ndarray:
        padding_side = self.tokenizer.padding_side
        self.tokenizer.padding_side = "left"  # the last position is then every row's next token
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        device = next(self.model.parameters()).device
        scores = []
        try:
            for start in tqdm(range(0, len(candidates), self.batch_size), desc="judge", unit="batch"):
                prompts = [
                    self._prompt(c, r)
                    for c, r in zip(candidates[start : start + self.batch_size], references[start : start + self.batch_size])
                ]
                batch = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
                logits = self.model(**batch).logits[:, -1, :].float()  # (B, V)
                pair = torch.stack([logits[:, self.no_id], logits[:, self.yes_id]], dim=1)  # (B, 2)
                scores.append(torch.softmax(pair, dim=1)[:, 1].cpu().numpy())
        finally:
            self.tokenizer.padding_side = padding_side
        return np.concatenate(scores)


class EmbeddingConsistencyScorer(ConsistencyScorer):
    """Cosine similarity of sentence embeddings, clipped to [0, 1] (negative cosine = no agreement).

    Args:
        model: a ``SentenceTransformer``, a name/path, or None for the offline all-MiniLM-L6-v2.
        batch_size: texts per encoding batch.
        cache_dir: when given, embeddings are cached there (see ``consroute_hf.embeddings.embed_texts``).
        precision: ``"auto"`` (bf16 autocast on a CPU with native bf16, else fp32), ``"fp32"`` or ``"bf16"``.
    """

    def __init__(self, model: Any = None, batch_size: int = 64, cache_dir: str | Path | None = None, precision: str = "auto"):
        from ..embeddings import load_embedder

        if precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"precision must be 'auto', 'fp32' or 'bf16', got {precision!r}.")
        name = model if isinstance(model, str) or model is None else type(model).__name__
        self.model = load_embedder(model) if model is None or isinstance(model, str) else model
        self.batch_size = batch_size
        self.bf16 = precision == "bf16" or (precision == "auto" and _cpu_has_native_bf16(self.model))
        # Cached embeddings are kept per precision (bf16 and fp32 agree closely, not exactly).
        self.cache_dir = None if cache_dir is None else Path(cache_dir) / ("bf16" if self.bf16 else "fp32")
        self.fingerprint = f"embedding:{name or 'all-minilm-l6-v2'}:{'bf16' if self.bf16 else 'fp32'}"

    def _score(self, candidates: list[str], references: list[str]) -> np.ndarray:
        import contextlib

        from ..embeddings import embed_texts

        unique = list(dict.fromkeys(candidates + references))  # each distinct text is embedded once
        precision = torch.autocast("cpu", dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()
        with precision:
            vectors = embed_texts(unique, self.model, batch_size=self.batch_size, cache_dir=self.cache_dir)  # (U, E)
        index = {text: i for i, text in enumerate(unique)}
        a = vectors[[index[t] for t in candidates]]
        b = vectors[[index[t] for t in references]]
        return np.sum(a * b, axis=1)  # unit vectors: cosine


def _cpu_has_native_bf16(model: Any) -> bool:
    """True when the model runs on a CPU with native bf16 matrix units (AVX512-BF16 or AMX):
    bf16 autocast then encodes MiniLM about 1.7x faster, embeddings within cosine 0.99998 of fp32."""
    device = str(getattr(model, "device", "cpu"))
    if not device.startswith("cpu"):
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


class AnswerAgreementScorer(ConsistencyScorer):
    """1.0 when the final answers extracted from both responses are equivalent (see
    :func:`consroute_hf.data.graders.answers_agree`), else 0.0; no answer on either side gives 0.0."""

    fingerprint = "agreement:v1"

    def _score(self, candidates: list[str], references: list[str]) -> np.ndarray:
        return np.array(
            [
                float(answers_agree(extract_answer(c), extract_answer(r)))
                for c, r in tqdm(zip(candidates, references), total=len(candidates), desc="agreement", disable=len(candidates) < 1000)
            ],
            dtype=np.float32,
        )


#: Recipe names of the scorers (``data.scorer``).
SCORER_NAMES = ("embedding", "cross-encoder", "judge", "agreement")


def make_scorer(name: str, model: str | None = None, **kwargs: Any) -> ConsistencyScorer:
    """The scorer a recipe names: ``"embedding"`` | ``"cross-encoder"`` | ``"judge"`` | ``"agreement"``.

    ``model`` is the scorer's model (None = offline MiniLM for "embedding", offline SmolLM2 for
    "judge"; "cross-encoder" needs one). Other keyword arguments go to the scorer's constructor.
    """
    if name == "embedding":
        return EmbeddingConsistencyScorer(model, **kwargs)
    if name == "cross-encoder":
        if model is None:
            raise ValueError(
                "The cross-encoder scorer needs a model: set data.scorer_model to a reranker name or path "
                "(e.g. BAAI/bge-reranker-base). No reranker ships offline; use scorer 'embedding' offline."
            )
        return CrossEncoderConsistencyScorer(model, **kwargs)
    if name == "judge":
        return CausalLMJudgeScorer(model or "smollm2-135m-instruct", **kwargs)
    if name == "agreement":
        return AnswerAgreementScorer(**kwargs)
    raise ValueError(f"Unknown scorer {name!r}; choose one of {SCORER_NAMES}.")
