"""OpenAI-compatible HTTP serving of a ConsRoute runtime (FastAPI + uvicorn, Prometheus metrics)."""

from .app import ChatRuntime, create_app
from .background import BackgroundServer
from .errors import APIError
from .metrics import ServingMetrics
from .schemas import ChatCompletionRequest

__all__ = ["create_app", "ChatRuntime", "BackgroundServer", "ServingMetrics", "APIError", "ChatCompletionRequest"]
