"""RouteLLM BERT router: a tiny BERT (hidden 32) fine-tuned with Trainer learns a planted text signal."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from tiny_models import tiny_tokenizer
from transformers import BertConfig, BertModel

from consroute_hf.baselines import BaselineData, RouteLLMBertRouter

TEMPLATES = [
    "What is 2 + 3? The answer is 5.",  # class 0: device and edge as good as the cloud
    "Janet's ducks lay 16 eggs per day.",  # class 1: only the edge as good as the cloud
    "def f(nums): return sorted(nums)",  # class 2: neither
]
FILLER = "Yes no true false answer reasoning json question".split()


def text_data(n: int, seed: int) -> BaselineData:
    rng = np.random.default_rng(seed)
    classes = rng.integers(0, 3, n)
    # The tiny tokenizer adds no [CLS]: the template leads, so the pooled first token sees the class.
    queries = [f"{TEMPLATES[c]} {' '.join(rng.choice(FILLER, 4))}" for c in classes]
    correct = np.stack([classes == 0, classes <= 1, np.ones(n, bool)], axis=1)
    return BaselineData(queries, np.zeros((n, 4), np.float32), correct, np.zeros((n, 2)), np.ones((n, 3)))


@pytest.fixture(scope="module")
def tiny_bert_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = tiny_tokenizer()
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=256, pad_token_id=tokenizer.pad_token_id,
    )
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def make_router(folder, **overrides) -> RouteLLMBertRouter:
    settings = dict(
        model_name_or_path=folder, num_train_epochs=4, batch_size=16, learning_rate=3e-3, freeze_layers=1,
        disable_tqdm=True, torch_threads=1,
    )
    return RouteLLMBertRouter(**(settings | overrides))


def test_fine_tuned_classifier_ranks_good_enough_queries_first(tiny_bert_dir):
    train, test = text_data(96, seed=0), text_data(48, seed=1)
    router = make_router(tiny_bert_dir).fit(train, seed=0)
    scores = router.predict_scores(test)
    assert scores.shape == (48, 2) and scores.min() >= 0 and scores.max() <= 1
    good = test.good_enough()
    for tier in range(2):
        assert roc_auc_score(good[:, tier], scores[:, tier]) > 0.8
    assert router.model_.config.problem_type == "multi_label_classification"
    # Embeddings and the bottom layer stayed frozen; the top layer and the head trained.
    bert = router.model_.bert
    assert not any(p.requires_grad for p in [*bert.embeddings.parameters(), *bert.encoder.layer[0].parameters()])
    assert all(p.requires_grad for p in [*bert.encoder.layer[1].parameters(), *router.model_.classifier.parameters()])


def test_freezing_more_layers_than_the_encoder_has_is_explained(tiny_bert_dir):
    with pytest.raises(ValueError, match="exceeds the encoder's 2 layers"):
        make_router(tiny_bert_dir, freeze_layers=3).fit(text_data(8, seed=0))


def test_same_seed_same_scores(tiny_bert_dir):
    train, test = text_data(32, seed=2), text_data(8, seed=3)
    first = make_router(tiny_bert_dir, num_train_epochs=1).fit(train, seed=5).predict_scores(test)
    again = make_router(tiny_bert_dir, num_train_epochs=1).fit(train, seed=5).predict_scores(test)
    np.testing.assert_allclose(first, again, rtol=0, atol=1e-6)
