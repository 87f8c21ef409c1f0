"""Request body of ``POST /v1/chat/completions`` (the OpenAI fields this server understands;
other fields OpenAI clients send are ignored)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..runtime import GenerationParams


class TextPart(BaseModel):
    """A ``{"type": "text", "text": ...}`` content part."""

    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]

    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(part.text for part in self.content)


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int = Field(default=1, ge=1, le=1, description="only one choice per request is supported")
    stream: bool = False
    stream_options: StreamOptions | None = None

    @field_validator("messages")
    @classmethod
    def _last_message_has_text(cls, messages: list[ChatMessage]) -> list[ChatMessage]:
        if messages and not messages[-1].text().strip():
            raise ValueError("the last message has empty content: send the question as its content")
        return messages

    def conversation(self) -> list[dict[str, str]]:
        """The messages as ``[{"role", "content"}]`` with text content (``developer`` -> ``system``)."""
        return [
            {"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in self.messages
        ]

    def generation_params(self, defaults: GenerationParams) -> GenerationParams:
        """This request's parameters, falling back to the server's ``defaults``."""
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or defaults.stop)
        return GenerationParams(
            max_new_tokens=self.max_completion_tokens or self.max_tokens or defaults.max_new_tokens,
            temperature=defaults.temperature if self.temperature is None else self.temperature,
            top_p=defaults.top_p if self.top_p is None else self.top_p,
            stop=stop,
            seed=self.seed if self.seed is not None else defaults.seed,
        )
