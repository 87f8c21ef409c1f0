"""OpenAI-style error bodies (``{"error": {"message", "type", "param", "code"}}``) for every error
the server returns, FastAPI's request-validation errors included (as HTTP 400)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)


class APIError(Exception):
    """An error to return as an OpenAI-style JSON body with ``status``."""

    def __init__(self, status: int, message: str, type: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status)


def bad_request(message: str, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(400, message, "invalid_request_error", param, code)


def validation_error(error: RequestValidationError) -> APIError:
    """A FastAPI validation error (malformed JSON, a missing or invalid field) -> HTTP 400."""
    problems = error.errors()
    first = problems[0] if problems else {}
    if first.get("type") == "json_invalid":
        return bad_request(
            f"The request body is not valid JSON ({first.get('ctx', {}).get('error', 'parse error')}): send a JSON object.",
            code="invalid_json",
        )
    location = [str(part) for part in first.get("loc", ()) if part != "body"]
    param = ".".join(location) or None
    details = "; ".join(
        f"{'.'.join(str(p) for p in item.get('loc', ()) if p != 'body') or 'body'}: {item.get('msg')}" for item in problems[:5]
    )
    return bad_request(f"Invalid request: {details}.", param=param, code="invalid_value")


def install_error_handlers(app: FastAPI) -> None:
    """Make every error response OpenAI-shaped."""

    @app.exception_handler(APIError)
    async def _api_error(request: Request, error: APIError) -> JSONResponse:
        return error.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        return validation_error(error).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        kind = "invalid_request_error" if error.status_code < 500 else "server_error"
        return APIError(error.status_code, str(error.detail), kind).response()

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        logger.exception("Unhandled error on %s", request.url.path)
        return APIError(500, f"Internal error: {type(error).__name__}: {error}", "server_error").response()
