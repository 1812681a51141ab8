"""Where a stack's config file is, found as `pulumi` finds it.

The project is the nearest directory holding `Pulumi.yaml` (or `Pulumi.yml`), from the current
directory upward, or the directory `--project` names. A stack's settings are in
`Pulumi.<stack>.yaml` in the project's `stackConfigDir` (relative to the project; the project
itself when unset), as in Pulumi's project file reference
(https://www.pulumi.com/docs/iac/concepts/projects/project-file/, `stackConfigDir`).
"""

from __future__ import annotations

from pathlib import Path

from components.config import read_document
from components.errors import ConfigurationError
from components.terminal import escape_controls

__all__ = ["PROJECT_FILES", "find_project", "stack_file"]

PROJECT_FILES = ("Pulumi.yaml", "Pulumi.yml")


def _project_file(directory: Path) -> Path | None:
    for name in PROJECT_FILES:
        candidate = directory / name
        try:
            if candidate.is_file():
                return candidate
        except (OSError, ValueError):  # a name the OS refuses holds no project
            return None
    return None


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name the OS refuses (too long, a NUL) names no stack file
        return False


def _shown(path: Path) -> str:
    return escape_controls(str(path))[:200]


def find_project(start: Path, explicit: Path | None = None) -> Path:
    """The project file: in `explicit` when given, else in `start` or its nearest parent."""
    if explicit is not None:
        found = _project_file(explicit)
        if found is None:
            raise ConfigurationError(
                f"--project {_shown(explicit)!r} holds no Pulumi.yaml; name the directory of the "
                "Pulumi project (the one with Pulumi.yaml)"
            )
        return found
    directory = start.resolve()
    for candidate in (directory, *directory.parents):
        found = _project_file(candidate)
        if found is not None:
            return found
    raise ConfigurationError(
        f"no Pulumi.yaml in {_shown(directory)} or any directory above it; run from the Pulumi "
        "project, or pass --project DIR, or --config FILE"
    )


def stack_file(stack: str, start: Path, explicit: Path | None = None) -> Path:
    """`Pulumi.<stack>.yaml` in the project's stack config directory."""
    project = find_project(start, explicit)
    document = read_document(project)
    config_dir = document.get("stackConfigDir") if isinstance(document, dict) else None
    if config_dir is not None and (not isinstance(config_dir, str) or not config_dir):
        raise ConfigurationError(
            f"{_shown(project)}: stackConfigDir must be a directory name (found {config_dir!r})"
        )
    directory = project.parent / config_dir if config_dir else project.parent
    path = directory / f"Pulumi.{stack}.yaml"
    if not _is_file(path):
        try:
            known = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in directory.glob("Pulumi.*.yaml"))
        except OSError:
            known = []
        raise ConfigurationError(
            f"no stack {escape_controls(stack)[:100]!r} in the Pulumi project {_shown(project.parent)} "
            f"({_shown(path)} does not exist); its stacks: {', '.join(known) or 'none yet'}"
        )
    return path
