"""``consroute serve``: an OpenAI-compatible server for a ConsRoute router (``--router``) or for one
causal LM (``--model``, the stand-in for an edge or cloud tier)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve", help="serve /v1/chat/completions for a router (with its tiers) or for one model",
        description=(
            "Serve an OpenAI-compatible API. With --router, each request is routed on the device LM's "
            "prefill and answered on the device (from the same KV cache) or by the --tier endpoints, with "
            "failover to the tier above. With --model, one causal LM answers every request."
        ),
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--router", help="router folder or Hub id (serves model name 'consroute')")
    source.add_argument("--model", help="a causal LM (folder, Hub id, .gguf file or named offline model) to serve alone")
    parser.add_argument(
        "--tier", action="append", default=[], metavar="NAME=URL,model=MODEL[,api_key_env=VAR][,timeout=S][,retries=N]",
        help="a remote tier's OpenAI-compatible base URL (including /v1) and model name; one per tier above the device",
    )
    parser.add_argument("--device-lm", default=None, help="device LM spec (default: the router's backbone_name_or_path)")
    parser.add_argument("--profile", default=None, help="threshold profile of the router to route with")
    parser.add_argument("--served-model-name", default=None, help="model name in --model mode (default: the model's name)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--request-timeout", type=float, default=120.0, help="seconds before a request is abandoned (504)")
    parser.add_argument("--max-tokens", type=int, default=256, help="default max_tokens of a request")
    parser.add_argument("--temperature", type=float, default=0.0, help="default temperature (0 = greedy)")
    parser.add_argument("--dtype", default="auto", help="device LM dtype: auto, bfloat16, float32, ...")
    parser.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda, ...")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from ..device_lm import load_device_lm
    from ..runtime import ConsRouteRuntime, GenerationParams, RemoteTierConfig, SingleModelRuntime
    from ..serving import create_app

    try:
        defaults = GenerationParams(max_new_tokens=args.max_tokens, temperature=args.temperature)
        tiers = [RemoteTierConfig.parse(text) for text in args.tier]
    except ValueError as error:
        logger.error("%s", error)
        return 2
    if args.model is not None:
        if tiers:
            logger.error("--tier applies to --router; --model serves one model alone.")
            return 2
        causal_lm, tokenizer = load_device_lm(args.model, dtype=args.dtype, device=args.device)
        name = args.served_model_name or Path(str(args.model).rstrip("/")).name
        runtime = SingleModelRuntime(causal_lm, tokenizer, name, request_timeout_s=args.request_timeout)
    else:
        try:
            runtime = ConsRouteRuntime.from_pretrained(
                args.router, tiers, device_lm=args.device_lm, dtype=args.dtype, device=args.device,
                profile=args.profile, request_timeout_s=args.request_timeout,
            )
        except ValueError as error:
            logger.error("%s", error)
            return 2
    app = create_app(runtime, defaults=defaults)
    logger.info("Serving model %r on http://%s:%d/v1", runtime.model_id, args.host, args.port)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    finally:
        runtime.close()
    return 0
