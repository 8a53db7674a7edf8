"""The Hugging Face Hub: the token, the repository id, its visibility, and the one function that uploads.

The Hub is reached through one function, `upload` (which asks `hub_visibility` first), so tests (and callers with
their own transport) patch exactly it, or only the visibility question.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import UserError
from .files import CARD

if TYPE_CHECKING:
    from datasets import DatasetDict


def check_repo_id(repo_id: str) -> None:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if repo_id.count("/") != 1:
        raise UserError(f"--push {repo_id}: write USER/NAME (or ORG/NAME)")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise UserError(f"--push {repo_id}: not a valid repository id ({exc})") from None


def hub_token(token: str | None = None) -> str:
    """An explicit token, else HF_TOKEN, else the saved login (`hf auth login`)."""
    if token:
        return token
    if os.environ.get("HF_TOKEN"):
        return os.environ["HF_TOKEN"]
    from huggingface_hub import get_token

    saved = get_token()
    if not saved:
        raise UserError("--push: no Hugging Face token; set HF_TOKEN or run `hf auth login`")
    return saved


@dataclass(frozen=True)
class Pushed:
    """Where `upload` put the dataset, and the repository's visibility afterwards."""

    url: str
    private: bool


def hub_visibility(repo_id: str, token: str) -> bool | None:
    """Whether the dataset repository is private (True), public (False), or does not exist yet (None).
    Only `upload` calls it."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        info = HfApi(token=token).repo_info(repo_id, repo_type="dataset")
    except RepositoryNotFoundError:
        return None
    return bool(info.private)


def check_visibility(repo_id: str, private: bool, existing: bool | None) -> None:
    """`create_repo(exist_ok=True)` and `push_to_hub` leave an existing repository's visibility as it is, whatever
    `private` says: refuse, before anything is uploaded, rather than report a visibility the repository lacks."""
    if existing is None or existing == private:
        return
    if private:
        raise UserError(
            f"--push {repo_id}: the repository exists and is public, and pushing cannot make it private; "
            "make it private on the Hub (Settings) first, or drop --private to push to it as public"
        )
    raise UserError(
        f"--push {repo_id}: the repository exists and is private; add --private to push to it as "
        "private, or make it public on the Hub (Settings) first"
    )


def upload(dataset_dict: DatasetDict, repo_id: str, token: str, private: bool, card_text: str) -> Pushed:
    """The one place synthgen talks to the Hub. Returns the dataset's URL and its visibility.

    An existing repository whose visibility is not the one asked for is refused before anything is uploaded
    (`create_repo(exist_ok=True)` and `push_to_hub` would silently keep it). The card goes up first:
    `push_to_hub` then keeps its text and adds the data files' metadata (configs, dataset_info) to its YAML,
    instead of replacing it with a bare card."""
    from huggingface_hub import HfApi

    existing = hub_visibility(repo_id, token)
    check_visibility(repo_id, private, existing)
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    api.upload_file(
        path_or_fileobj=card_text.encode("utf-8"),
        path_in_repo=CARD,
        repo_id=repo_id,
        repo_type="dataset",
        commit_message="Dataset card (synthgen)",
    )
    dataset_dict.push_to_hub(repo_id, token=token, private=private, commit_message="Data (synthgen)")
    return Pushed(f"https://huggingface.co/datasets/{repo_id}", private if existing is None else existing)
