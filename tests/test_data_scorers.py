"""Consistency scorers with tiny random models built from configs (no downloads)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification, BertModel

from consroute_hf.data import (
    AnswerAgreementScorer,
    CausalLMJudgeScorer,
    CrossEncoderConsistencyScorer,
    EmbeddingConsistencyScorer,
    make_scorer,
)

CANDIDATES = ["The answer is 5.", "Janet sells the remainder at the market.", "def f(nums): return sorted(nums)"]
REFERENCES = ["What is 2 + 3? The answer is 5.", "She sells eggs for $2 per egg.", "Yes no true false answer"]


def _tiny_bert_config(tokenizer, **kwargs) -> BertConfig:
    return BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=256, pad_token_id=tokenizer.pad_token_id, **kwargs,
    )


@pytest.fixture()
def tiny_cross_encoder(tmp_path, tokenizer):
    torch.manual_seed(0)
    model = BertForSequenceClassification(_tiny_bert_config(tokenizer, num_labels=1)).eval()
    folder = tmp_path / "reranker"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder, model


def test_cross_encoder_is_sigmoid_of_the_relevance_logit(tiny_cross_encoder):
    folder, _ = tiny_cross_encoder
    scorer = CrossEncoderConsistencyScorer(str(folder), batch_size=2)
    scores = scorer.score(CANDIDATES, REFERENCES)
    from sentence_transformers import CrossEncoder

    raw_logits = CrossEncoder(str(folder), device="cpu").predict(
        list(zip(CANDIDATES, REFERENCES)), activation_fn=torch.nn.Identity(), convert_to_numpy=True,
    )
    expected = 1.0 / (1.0 + np.exp(-raw_logits))
    assert scores.shape == (3,) and scores.dtype == np.float32
    np.testing.assert_allclose(scores, expected, atol=1e-5)
    assert str(folder) in scorer.fingerprint


def test_cross_encoder_rejects_a_classifier_with_several_labels(tmp_path, tokenizer):
    folder = tmp_path / "classifier"
    BertForSequenceClassification(_tiny_bert_config(tokenizer, num_labels=3)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    with pytest.raises(ValueError, match="3 output labels"):
        CrossEncoderConsistencyScorer(str(folder))


def test_judge_is_p_yes_from_next_token_logits(causal_lm, tokenizer):
    scorer = CausalLMJudgeScorer(causal_lm, tokenizer, batch_size=2)
    scores = scorer.score(CANDIDATES, REFERENCES)
    yes, no = tokenizer.encode("yes", add_special_tokens=False)[0], tokenizer.encode("no", add_special_tokens=False)[0]
    expected = []
    with torch.no_grad():
        for candidate, reference in zip(CANDIDATES, REFERENCES):
            content = f"Do the two answers below reach the same final answer? Reply with yes or no.\n\nAnswer A:\n{candidate}\n\nAnswer B:\n{reference}"
            prompt = tokenizer.apply_chat_template([{"role": "user", "content": content}], tokenize=False, add_generation_prompt=True)
            ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
            logits = causal_lm(**ids).logits[0, -1]
            expected.append(torch.softmax(torch.stack([logits[no], logits[yes]]), 0)[1].item())
    # Left-padded batches of 2 give the same scores as one prompt at a time.
    np.testing.assert_allclose(scores, expected, atol=1e-4)
    assert ((scores > 0) & (scores < 1)).all()


def test_judge_loads_a_saved_model_by_path(tmp_path, causal_lm, tokenizer):
    folder = tmp_path / "judge"
    causal_lm.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    by_path = make_scorer("judge", str(folder)).score(CANDIDATES[:2], REFERENCES[:2])
    in_memory = CausalLMJudgeScorer(causal_lm, tokenizer).score(CANDIDATES[:2], REFERENCES[:2])
    np.testing.assert_allclose(by_path, in_memory, atol=1e-5)


def test_judge_needs_distinct_verdict_tokens(causal_lm, tokenizer):
    with pytest.raises(ValueError, match="start with the same token"):
        CausalLMJudgeScorer(causal_lm, tokenizer, yes_token="yes", no_token="yes")


@pytest.fixture()
def tiny_sentence_transformer(tmp_path, tokenizer):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

    torch.manual_seed(0)
    folder = tmp_path / "bert"
    BertModel(_tiny_bert_config(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    transformer = Transformer(str(folder), max_seq_length=64)
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    model = SentenceTransformer(modules=[transformer, pooling], device="cpu")
    saved = tmp_path / "st"
    model.save(str(saved))
    return model, saved


def test_embedding_scorer_is_clipped_cosine(tiny_sentence_transformer):
    model, _ = tiny_sentence_transformer
    scores = EmbeddingConsistencyScorer(model, precision="fp32").score(CANDIDATES, REFERENCES)
    a = model.encode(CANDIDATES, convert_to_numpy=True)
    b = model.encode(REFERENCES, convert_to_numpy=True)
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    np.testing.assert_allclose(scores, np.clip(cosine, 0, 1), atol=1e-5)
    same = EmbeddingConsistencyScorer(model, precision="fp32").score(CANDIDATES, CANDIDATES)
    np.testing.assert_allclose(same, 1.0, atol=1e-5)
    bf16 = EmbeddingConsistencyScorer(model, precision="bf16")
    assert bf16.bf16 and "bf16" in bf16.fingerprint
    np.testing.assert_allclose(bf16.score(CANDIDATES, REFERENCES), scores, atol=1e-2)
    with pytest.raises(ValueError, match="precision must be"):
        EmbeddingConsistencyScorer(model, precision="fp16")


def test_make_scorer_embedding_from_a_saved_model(tiny_sentence_transformer, tmp_path):
    model, saved = tiny_sentence_transformer
    scorer = make_scorer("embedding", str(saved), cache_dir=tmp_path / "cache")
    assert isinstance(scorer, EmbeddingConsistencyScorer)
    np.testing.assert_allclose(
        scorer.score(CANDIDATES, REFERENCES), EmbeddingConsistencyScorer(model).score(CANDIDATES, REFERENCES), atol=1e-5,
    )


def test_answer_agreement_scorer():
    def block(answer: str) -> str:
        return f'```json\n{{\n    "reasoning": "r",\n    "answer": "{answer}"\n}}\n```'

    scores = AnswerAgreementScorer().score(
        [block("$1,000"), block("17"), "no json and no answer", block("[1, 2]")],
        [block("1000"), block("18"), block("5"), block("[1, 2]")],
    )
    np.testing.assert_array_equal(scores, [1.0, 0.0, 0.0, 1.0])


def test_scorers_check_their_inputs():
    scorer = AnswerAgreementScorer()
    with pytest.raises(ValueError, match="2 candidates but 1 references"):
        scorer.score(["a", "b"], ["a"])
    with pytest.raises(TypeError, match="lists of strings"):
        scorer.score("a", "a")
    assert scorer.score([], []).shape == (0,)


def test_make_scorer_names():
    assert isinstance(make_scorer("agreement"), AnswerAgreementScorer)
    with pytest.raises(ValueError, match="needs a model"):
        make_scorer("cross-encoder")
    with pytest.raises(ValueError, match="Unknown scorer 'bleu'"):
        make_scorer("bleu")
