"""``consroute push``: publish a run's router (full or head-only) with its results model card."""

from __future__ import annotations

import argparse
import logging

logger = logging.getLogger(__name__)


def run(args: argparse.Namespace) -> int:
    from transformers import AutoTokenizer

    from ..hub import push_router

    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer) if args.tokenizer else None
    commit = push_router(
        args.run_dir, args.repo_id, head_only=args.head_only, backbone_repo=args.backbone_repo,
        tokenizer=tokenizer, private=args.private or None, revision=args.revision, create_pr=args.create_pr,
        commit_message=args.commit_message,
    )
    print(commit.pr_url or commit.commit_url)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "push", help="push a router with its results model card to the Hugging Face Hub",
        description="Push runs/<name> (its router/ checkpoint, metrics.json and plots) or a checkpoint folder to "
        "the Hub: weights, config, remote code, tokenizer and a model card. Log in first (`hf auth login`).",
    )
    parser.add_argument("run_dir", help="a `consroute reproduce` run folder (runs/<name>) or a checkpoint folder")
    parser.add_argument("repo_id", help="target repository, e.g. my-org/consroute-gemma2")
    parser.add_argument("--head-only", action="store_true", help="push only the head; the config names the backbone repo")
    parser.add_argument("--backbone-repo", default=None, help="Hub id of the device LM (needed by --head-only when the "
                        "checkpoint names a local backbone path)")
    parser.add_argument("--tokenizer", default=None, help="device tokenizer to ship (default: the checkpoint's own)")
    parser.add_argument("--private", action="store_true", help="create the repository as private")
    parser.add_argument("--revision", default=None, help="branch to push to")
    parser.add_argument("--create-pr", action="store_true", help="open a pull request instead of committing")
    parser.add_argument("--commit-message", default=None)
    parser.set_defaults(func=run)
