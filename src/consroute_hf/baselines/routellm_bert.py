"""RouteLLM BERT classifier router: a sequence-classification encoder fine-tuned on the queries.

Ong et al., "RouteLLM: Learning to Route LLMs with Preference Data", arXiv:2406.18665, section
4.1: BERT-base with a classification head on the [CLS] state, fully fine-tuned to predict whether
the strong model wins; at routing time the router reads the predicted probability from the query
text alone (RouteLLM's ``BERTRouter``).

Adaptation: offline, the encoder is the MiniLM (all-MiniLM-L6-v2, a 6-layer BERT) loaded with
``AutoModelForSequenceClassification``; the head has one sigmoid output per cheaper tier
(``problem_type="multi_label_classification"``), trained with ``transformers.Trainer`` on the label
"tier t as good as the cloud" (``BaselineData.good_enough``, RouteLLM's win-or-tie), so the three
tiers share one encoder instead of one BERT per (weak, strong) pair. Queries are cut at 128 tokens
and batches are length-grouped so CPU training pads little.

CPU budget: a full fine-tune of the 6-layer MiniLM costs ~6 x 22M x 80 tokens per query and step;
on 2 busy CPU cores one full-precision epoch over ~1,700 queries took ~15 minutes, far over the
90 s a baseline fit may take. The defaults therefore train one epoch under bf16 autocast (about 2x
faster on CPUs with AVX512-BF16) with the embeddings and the bottom 4 of 6 layers frozen (no
backward pass through them, about another 1.6x); ``freeze_layers=0, bf16=False`` with more epochs is
RouteLLM's full fine-tune, for a GPU.
"""

from __future__ import annotations

import logging
import os
import tempfile

import numpy as np
import torch
from datasets import Dataset
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
)

from ..offline_models import offline_embedder_path
from .base import BaselineData, LearnedRouter, check_trainable, torch_threads

logger = logging.getLogger(__name__)


class RouteLLMBertRouter(LearnedRouter):
    """Fine-tuned sequence classifier with T-1 sigmoid outputs.

    Args:
        model_name_or_path: encoder checkpoint (None = the offline MiniLM folder).
        num_train_epochs, batch_size, learning_rate, warmup_steps, weight_decay: Trainer settings.
        freeze_layers: how many bottom encoder layers (plus the embeddings) stay frozen; 0 trains all.
        bf16: train and predict under bf16 autocast.
        max_length: tokens kept per query.
        disable_tqdm: hide the Trainer's progress bars.
        torch_threads: intra-op threads while fitting and predicting (None: torch's setting).
    """

    def __init__(
        self, model_name_or_path: str | os.PathLike | None = None, num_train_epochs: float = 1.0,
        batch_size: int = 32, learning_rate: float = 1e-4, warmup_steps: float = 0.1, weight_decay: float = 0.01,
        freeze_layers: int = 4, bf16: bool = True, max_length: int = 128, disable_tqdm: bool = False,
        torch_threads: int | None = None,
    ) -> None:
        if freeze_layers < 0:
            raise ValueError(f"`freeze_layers` must be >= 0, got {freeze_layers}.")
        self.model_name_or_path = model_name_or_path
        self.num_train_epochs = num_train_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.warmup_steps = warmup_steps
        self.weight_decay = weight_decay
        self.freeze_layers = freeze_layers
        self.bf16 = bf16
        self.max_length = max_length
        self.disable_tqdm = disable_tqdm
        self.torch_threads = torch_threads

    def _arguments(self, output_dir: str, seed: int, training: bool) -> TrainingArguments:
        # Length grouping also reorders Trainer.predict's batches (transformers 5.23), so training only.
        return TrainingArguments(
            output_dir=output_dir, num_train_epochs=self.num_train_epochs, per_device_train_batch_size=self.batch_size,
            per_device_eval_batch_size=2 * self.batch_size, learning_rate=self.learning_rate,
            warmup_steps=self.warmup_steps, weight_decay=self.weight_decay, seed=seed, data_seed=seed,
            train_sampling_strategy="group_by_length" if training else "sequential", save_strategy="no",
            eval_strategy="no", report_to="none", logging_strategy="no", bf16=self.bf16, disable_tqdm=self.disable_tqdm,
            use_cpu=not torch.cuda.is_available(),
        )

    def _freeze(self, model) -> None:
        """Freeze the embeddings and the bottom ``freeze_layers`` encoder layers (after loading, which resets flags)."""
        if self.freeze_layers == 0:
            return
        base = model.base_model
        layers = getattr(getattr(base, "encoder", None), "layer", None)
        if layers is None or not hasattr(base, "embeddings"):
            raise ValueError(
                f"`freeze_layers` needs a BERT-style encoder (`embeddings`, `encoder.layer`); {type(base).__name__} "
                "has none: pass freeze_layers=0."
            )
        if self.freeze_layers > len(layers):
            raise ValueError(f"`freeze_layers`={self.freeze_layers} exceeds the encoder's {len(layers)} layers.")
        for module in [base.embeddings, *layers[: self.freeze_layers]]:
            module.requires_grad_(False)

    def _tokenized(self, queries: list[str], targets: np.ndarray | None = None) -> Dataset:
        columns = {"text": queries}
        if targets is not None:
            columns["labels"] = targets.astype(np.float32).tolist()
        dataset = Dataset.from_dict(columns)
        return dataset.map(
            lambda batch: self.tokenizer_(batch["text"], truncation=True, max_length=self.max_length),
            batched=True, remove_columns=["text"],
        )

    def fit(self, train: BaselineData, seed: int = 0) -> "RouteLLMBertRouter":
        """Fine-tune the encoder on ``train`` (seeded); ``fit_seconds_`` records the training time."""
        check_trainable(train)
        path = str(self.model_name_or_path or offline_embedder_path())
        self.tokenizer_ = AutoTokenizer.from_pretrained(path)
        torch.manual_seed(seed)
        model = AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=train.n_tiers - 1, problem_type="multi_label_classification",
        )
        self._freeze(model)
        if model.config.pad_token_id is None:
            model.config.pad_token_id = self.tokenizer_.pad_token_id
        dataset = self._tokenized(train.queries, train.good_enough())
        with tempfile.TemporaryDirectory(prefix="routellm-bert-") as output_dir:
            trainer = Trainer(
                model=model, args=self._arguments(output_dir, seed, training=True), train_dataset=dataset,
                data_collator=DataCollatorWithPadding(self.tokenizer_),
            )
            with torch_threads(self.torch_threads):
                result = trainer.train()
        self.fit_seconds_ = float(result.metrics["train_runtime"])
        logger.info("RouteLLM BERT router fitted on %d queries in %.1f s", len(train), self.fit_seconds_)
        self.model_ = model.eval()
        self.n_tiers_ = train.n_tiers
        return self

    def predict_scores(self, data: BaselineData) -> np.ndarray:
        """(N, T-1) sigmoid probabilities in [0, 1]."""
        self._check_predictable(data)
        with tempfile.TemporaryDirectory(prefix="routellm-bert-") as output_dir:
            trainer = Trainer(
                model=self.model_, args=self._arguments(output_dir, 0, training=False),
                data_collator=DataCollatorWithPadding(self.tokenizer_),
            )
            with torch_threads(self.torch_threads):
                logits = trainer.predict(self._tokenized(data.queries)).predictions
        return (1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))).reshape(len(data), -1)
