"""Publish routers on the Hugging Face Hub: weights, config, remote code, tokenizer and a results card.

A pushed repository holds everything ``AutoModel.from_pretrained(repo, trust_remote_code=True)``
and ``pipeline(model=repo, trust_remote_code=True)`` need, without the consroute_hf package:

- ``model.safetensors`` (full: backbone + head; head-only: the head) and ``config.json`` (with
  ``auto_map``, ``custom_pipelines`` and, for head-only, ``backbone_name_or_path`` naming the
  device LM's repository);
- ``configuration_consroute.py``, ``modeling_consroute.py``, ``pipeline_consroute.py``;
- the device tokenizer files (the pipeline tokenises with them);
- ``README.md``, the model card rendered by [`render_model_card`], and the plots it shows.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from huggingface_hub import CommitInfo, CommitOperationAdd, HfApi

from .model_card import render_model_card
from .modeling_consroute import ConsRouterForTierSelection

logger = logging.getLogger(__name__)

#: Files of a run folder written by ``consroute reproduce``.
RUN_METRICS_FILE = "metrics.json"
RUN_ROUTER_DIR = "router"


@dataclass
class RunArtifacts:
    """What a run folder (or a bare checkpoint folder) offers for a push.

    Attributes:
        checkpoint: the router checkpoint folder. metrics: ``metrics.json`` contents, or None.
        plots: plot files listed in ``metrics["plots"]``, resolved against the run folder.
    """

    checkpoint: Path
    metrics: dict[str, Any] | None = None
    plots: list[Path] = field(default_factory=list)


def find_run_artifacts(run_dir: str | os.PathLike) -> RunArtifacts:
    """Locate the checkpoint, ``metrics.json`` and plots of a run folder.

    The checkpoint is ``run_dir/router/`` (what ``consroute reproduce`` writes) or ``run_dir``
    itself when it holds a ``config.json``.

    Raises:
        FileNotFoundError: no checkpoint, or a plot that ``metrics.json`` lists is missing.
    """
    run_dir = Path(run_dir)
    if (run_dir / RUN_ROUTER_DIR / "config.json").is_file():
        checkpoint = run_dir / RUN_ROUTER_DIR
    elif (run_dir / "config.json").is_file():
        checkpoint = run_dir
    else:
        raise FileNotFoundError(
            f"No router checkpoint in {run_dir}: expected {run_dir / RUN_ROUTER_DIR / 'config.json'} (a "
            "`consroute reproduce` run folder) or a checkpoint folder with config.json."
        )
    metrics_path = run_dir / RUN_METRICS_FILE
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else None
    plots = [run_dir / name for name in (metrics or {}).get("plots", [])]
    missing = [str(p) for p in plots if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{metrics_path} lists plots that do not exist: {missing}. Re-run the report stage.")
    return RunArtifacts(checkpoint=checkpoint, metrics=metrics, plots=plots)


def export_for_hub(
    router: ConsRouterForTierSelection,
    folder: str | os.PathLike,
    *,
    head_only: bool = False,
    metrics: dict[str, Any] | None = None,
    plots: Sequence[str | os.PathLike] = (),
    recipe: Any = None,
    backbone_repo: str | None = None,
    tokenizer: Any = None,
    repo_id: str | None = None,
    tags: Sequence[str] = (),
) -> Path:
    """Write the exact files a push uploads into ``folder`` (which must not exist or be empty).

    The files are written into a staging folder and renamed into place once complete.

    Args:
        router: the router to publish.
        head_only: write only the head's weights; the config names ``backbone_repo``.
        metrics: ``metrics.json`` contents for the card (None: a card without results).
        plots: image files to upload next to the card, which shows them.
        recipe: the training recipe, shown in the card.
        backbone_repo: Hub id of the device LM, written as ``config.backbone_name_or_path``
            (required for head-only when the config names a local path).
        tokenizer: the device tokenizer (default ``router.tokenizer``); required, the pipeline needs it.
        repo_id: the target repository (for the card's usage snippet).
        tags: extra Hub tags for the card.

    Returns:
        ``folder``.
    """
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise FileExistsError(f"{folder} is not empty; export into a new folder.")
    tokenizer = tokenizer if tokenizer is not None else router.tokenizer
    if tokenizer is None:
        raise ValueError(
            "A pushed router must carry the device tokenizer (pipeline() tokenises with it): set "
            "`router.tokenizer` or pass `tokenizer=` (CLI: --tokenizer PATH)."
        )
    backbone = backbone_repo or router.config.backbone_name_or_path
    if head_only and (not backbone or os.path.exists(backbone)):
        raise ValueError(
            f"A head-only checkpoint must name its backbone's Hub repository, but the config names "
            f"{backbone!r} (a local path or nothing): pass `backbone_repo='org/device-lm'` (CLI: --backbone-repo)."
        )
    missing = [str(p) for p in plots if not Path(p).is_file()]
    if missing:
        raise FileNotFoundError(f"Plot file(s) {missing} do not exist.")
    config = router.config
    saved_backbone, saved_tokenizer = config.backbone_name_or_path, router.tokenizer
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:  # everything goes into a staging folder first, renamed into place once complete
        config.backbone_name_or_path, router.tokenizer = backbone, tokenizer
        router.save_pretrained(staging / "export", head_only=head_only)
        render_model_card(
            router, metrics, recipe=recipe, plots=plots, repo_id=repo_id, head_only=head_only, tags=tags
        ).save(str(staging / "export" / "README.md"))
        for plot in plots:
            shutil.copyfile(plot, staging / "export" / Path(plot).name)
        if folder.exists():
            folder.rmdir()  # empty, checked above
        os.replace(staging / "export", folder)
    finally:
        config.backbone_name_or_path, router.tokenizer = saved_backbone, saved_tokenizer
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def push_router(
    run_dir_or_router: str | os.PathLike | ConsRouterForTierSelection,
    repo_id: str,
    head_only: bool = False,
    metrics: dict[str, Any] | None = None,
    plots: Sequence[str | os.PathLike] = (),
    *,
    recipe: Any = None,
    backbone_repo: str | None = None,
    tokenizer: Any = None,
    tags: Sequence[str] = (),
    commit_message: str | None = None,
    commit_description: str | None = None,
    private: bool | None = None,
    token: str | bool | None = None,
    revision: str | None = None,
    create_pr: bool = False,
) -> CommitInfo:
    """Push a router (object, checkpoint folder or ``consroute reproduce`` run folder) to the Hub.

    Creates ``repo_id`` if needed, then uploads the files of [`export_for_hub`] in one commit.
    From a run folder, ``metrics`` and ``plots`` default to its ``metrics.json`` and the plots it lists.

    Returns:
        The commit (``.commit_url``, ``.oid``; ``.pr_url`` with ``create_pr=True``).
    """
    if isinstance(run_dir_or_router, (str, os.PathLike)):
        artifacts = find_run_artifacts(run_dir_or_router)
        router = ConsRouterForTierSelection.from_pretrained(artifacts.checkpoint)
        metrics = metrics if metrics is not None else artifacts.metrics
        plots = plots or artifacts.plots
    else:
        router = run_dir_or_router
    export_kwargs = dict(
        head_only=head_only, metrics=metrics, plots=plots, recipe=recipe, backbone_repo=backbone_repo,
        tokenizer=tokenizer, tags=tags,
    )
    with tempfile.TemporaryDirectory(prefix="consroute-push-") as staging:
        # Export first: a router that cannot be published fails before anything reaches the Hub.
        folder = export_for_hub(router, Path(staging) / "repo", repo_id=repo_id, **export_kwargs)
        api = HfApi(token=token)
        created = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
        if created != repo_id:  # a bare name resolved to the user's namespace: the card's snippet names it
            folder = export_for_hub(router, Path(staging) / "named", repo_id=created, **export_kwargs)
        operations = [
            CommitOperationAdd(path_in_repo=path.relative_to(folder).as_posix(), path_or_fileobj=str(path))
            for path in sorted(folder.rglob("*")) if path.is_file()
        ]
        kind = "head-only" if head_only else "full"
        logger.info("Pushing %d files (%s router) to %s", len(operations), kind, created)
        return api.create_commit(
            repo_id=created,
            operations=operations,
            commit_message=commit_message or f"Upload ConsRoute router ({kind})",
            commit_description=commit_description,
            revision=revision,
            create_pr=create_pr,
        )


__all__ = ["push_router", "export_for_hub", "find_run_artifacts", "RunArtifacts"]
