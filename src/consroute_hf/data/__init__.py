"""Routing data: loaders, answer graders, consistency scorers, soft targets and the cached dataset."""

from .dataset import add_routing_columns, build_routing_dataset, routing_dataset_path, routing_features
from .graders import GRADERS, answers_agree, extract_answer, grade, grade_crux, grade_gsm, grade_math
from .loaders import (
    AlignmentReport,
    DataAlignmentError,
    TierRecord,
    join_tiers,
    load_hub_responses,
    load_responses_jsonl,
    load_zeroeval,
    read_zeroeval_file,
)
from .scorers import (
    SCORER_NAMES,
    AnswerAgreementScorer,
    CausalLMJudgeScorer,
    ConsistencyScorer,
    CrossEncoderConsistencyScorer,
    EmbeddingConsistencyScorer,
    make_scorer,
)
from .targets import TARGET_MODES, consistency_text, grade_responses, soft_targets
from .tokens import DEFAULT_TOKEN_COUNTER, TokenCounter

__all__ = [
    "load_zeroeval", "load_responses_jsonl", "load_hub_responses", "read_zeroeval_file", "join_tiers",
    "TierRecord", "AlignmentReport", "DataAlignmentError",
    "extract_answer", "grade", "grade_gsm", "grade_math", "grade_crux", "answers_agree", "GRADERS",
    "ConsistencyScorer", "CrossEncoderConsistencyScorer", "CausalLMJudgeScorer", "EmbeddingConsistencyScorer",
    "AnswerAgreementScorer", "make_scorer", "SCORER_NAMES",
    "consistency_text", "grade_responses", "soft_targets", "TARGET_MODES",
    "TokenCounter", "DEFAULT_TOKEN_COUNTER",
    "build_routing_dataset", "add_routing_columns", "routing_features", "routing_dataset_path",
]
