"""Test helpers for the Hub and pipeline tests: a fake Hub that writes the real cache layout, and
routers whose decisions differ per query (so comparisons between code paths mean something).

The fake Hub replaces the two ``HfApi`` write calls a push makes (``create_repo``,
``create_commit``) with functions that write ``models--org--name/{blobs,refs/main,snapshots/<sha>/}``
under a temporary cache; with ``HF_HUB_OFFLINE=1`` the normal read path (``from_pretrained("org/name")``,
``hf_hub_download``) then serves the pushed files unchanged.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from huggingface_hub import CommitInfo, CommitOperationAdd, CommitOperationDelete, HfApi, RepoUrl

QUERIES = [
    "What is 2 + 3?",
    "Find the sum of all integers that satisfy these conditions.",
    [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "def f(nums): return sorted(nums)"}],
    "Janet's ducks lay 16 eggs per day.",
]


@dataclass
class FakeHub:
    """A Hub that lives in ``cache`` (a ``HF_HUB_CACHE`` folder). ``commits`` records each push."""

    cache: Path
    commits: list[dict] = field(default_factory=list)

    def repo_dir(self, repo_id: str) -> Path:
        return self.cache / f"models--{repo_id.replace('/', '--')}"

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        """path in repo -> contents, at ``revision``."""
        snapshot = self.repo_dir(repo_id) / "snapshots" / (self.repo_dir(repo_id) / "refs" / revision).read_text()
        return {p.relative_to(snapshot).as_posix(): p.read_bytes() for p in snapshot.rglob("*") if p.is_file()}

    # ---------------------------------------------------------------- patched HfApi methods
    def create_repo(self, api: HfApi, repo_id: str, *, exist_ok: bool = False, **_: object) -> RepoUrl:
        if "/" not in repo_id:
            repo_id = f"fake-user/{repo_id}"
        folder = self.repo_dir(repo_id)
        if folder.exists() and not exist_ok:
            raise FileExistsError(f"fake Hub: {repo_id} exists")
        (folder / "refs").mkdir(parents=True, exist_ok=True)
        return RepoUrl(f"https://huggingface.co/{repo_id}")

    def create_commit(
        self, api: HfApi, repo_id: str, operations: list, *, commit_message: str, revision: str | None = None,
        create_pr: bool | None = False, commit_description: str | None = None, **_: object,
    ) -> CommitInfo:
        assert not create_pr, "the fake Hub does not open pull requests"
        folder = self.repo_dir(repo_id)
        if not folder.exists():
            raise FileNotFoundError(f"fake Hub: repository {repo_id} was not created")
        ref = folder / "refs" / (revision or "main")
        tree: dict[str, str] = {}  # path in repo -> blob name
        if ref.exists():
            parent = folder / "snapshots" / ref.read_text()
            tree = {p.relative_to(parent).as_posix(): Path(os.readlink(p)).name for p in parent.rglob("*") if p.is_symlink()}
        (folder / "blobs").mkdir(exist_ok=True)
        for operation in operations:
            if isinstance(operation, CommitOperationAdd):
                with operation.as_file() as handle:
                    content = handle.read()
                blob = hashlib.sha256(content).hexdigest()
                (folder / "blobs" / blob).write_bytes(content)
                tree[operation.path_in_repo] = blob
            elif isinstance(operation, CommitOperationDelete):
                tree = {p: b for p, b in tree.items() if p != operation.path_in_repo and not p.startswith(operation.path_in_repo.rstrip("/") + "/")}
            else:
                raise TypeError(f"fake Hub: unsupported operation {operation!r}")
        commit = hashlib.sha1(repr((ref.read_text() if ref.exists() else "", sorted(tree.items()), commit_message)).encode()).hexdigest()
        snapshot = folder / "snapshots" / commit
        for path, blob in tree.items():
            link = snapshot / path
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(os.path.relpath(folder / "blobs" / blob, link.parent))
        ref.parent.mkdir(parents=True, exist_ok=True)
        ref.write_text(commit)
        self.commits.append({"repo_id": repo_id, "oid": commit, "message": commit_message, "files": sorted(tree)})
        return CommitInfo(
            commit_url=f"https://huggingface.co/{repo_id}/commit/{commit}", commit_message=commit_message,
            commit_description=commit_description or "", oid=commit,
        )

    def upload_folder(self, folder: str | os.PathLike, repo_id: str) -> None:
        """Push a local folder as one commit (what ``HfApi.upload_folder`` does, minus the network)."""
        api = HfApi()
        api.create_repo(repo_id, exist_ok=True)
        folder = Path(folder)
        operations = [
            CommitOperationAdd(path_in_repo=p.relative_to(folder).as_posix(), path_or_fileobj=str(p))
            for p in sorted(folder.rglob("*")) if p.is_file()
        ]
        api.create_commit(repo_id, operations=operations, commit_message="upload folder")


def install_fake_hub(monkeypatch, cache: Path) -> FakeHub:
    """Patch ``HfApi.create_repo/create_commit`` and point the Hub cache at ``cache``."""
    from huggingface_hub import constants

    hub = FakeHub(cache)
    cache.mkdir(parents=True, exist_ok=True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(HfApi, "create_repo", lambda api, repo_id, **kw: hub.create_repo(api, repo_id, **kw))
    monkeypatch.setattr(HfApi, "create_commit", lambda api, repo_id, operations, **kw: hub.create_commit(api, repo_id, operations, **kw))
    return hub


def calibrate_for_tests(router) -> None:
    """Give ``router`` two clusters centred on ``QUERIES[0]`` (thresholds 0: always the first tier)
    and ``QUERIES[1]`` (thresholds 1: never passes, the reference tier), plus a profile ``"edge"``
    whose thresholds send every query to the middle tier."""
    features = router.featurize(QUERIES).numpy().astype(np.float64)
    mean, std = features.mean(0), features.std(0) + 1e-3
    config = router.config
    config.feature_mean, config.feature_std = mean.tolist(), std.tolist()
    config.cluster_centroids = ((features[:2] - mean) / std).tolist()
    config.cluster_thresholds = [[0.0, 0.0], [1.0, 1.0]]
    config.threshold_profiles = {
        "edge": {"cluster_thresholds": [[1.0, 0.0], [1.0, 0.0]], "default_thresholds": [1.0, 0.0],
                 "calibration": {"mode": "budget", "target": 0.9, "n_trials": 5,
                                 "achieved": {"accuracy_pct_of_cloud": 91.04, "cost_pct_of_cloud": 30.5}}},
    }
    config.calibration = {"mode": "budget", "target": 0.95, "n_clusters": 2, "cluster_sizes": [20, 21],
                          "achieved": {"cost_pct_of_cloud": 40.0}}
    config.validate_routing_fields()
