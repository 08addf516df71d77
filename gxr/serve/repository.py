"""Every published version of every model in a repository, loaded for serving; a version that fails to load is
kept as UNAVAILABLE with its one-line reason while the others serve.

The repository is only read: names come from its folders (validated), and requests are looked up in the loaded
table, never joined onto a path."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gxr.core.errors import GxrError, one_line
from gxr.core.repository import published_versions
from gxr.serve.models import LoadOptions, ServedModel
from gxr.serve.protocol import NAME_PATTERN, NotFound, Unavailable, VersionState, check_name, check_version


@dataclass(frozen=True)
class VersionPolicy:
    """Which versions of each model to serve: all, the newest N (`latest:N`), or listed numbers (`1,3`)."""
    kind: str = "all"
    count: int = 1
    versions: tuple[int, ...] = ()

    @classmethod
    def parse(cls, text: str) -> VersionPolicy:
        text = text.strip()
        if text == "all":
            return cls()
        if text == "latest" or text.startswith("latest:"):
            count = text.partition(":")[2] or "1"
            if not count.isdigit() or int(count) < 1:
                raise GxrError(f"--versions {text!r}: latest:N needs N >= 1")
            return cls("latest", int(count))
        parts = [p.strip() for p in text.split(",")]
        if not parts or not all(p.isdigit() and int(p) > 0 for p in parts):
            raise GxrError(f"--versions {text!r}: choose all, latest, latest:N or version numbers like 1,3")
        return cls("specific", versions=tuple(sorted({int(p) for p in parts})))

    def select(self, published: list[int]) -> list[int]:
        if self.kind == "latest":
            return published[-self.count:]
        if self.kind == "specific":
            return [v for v in published if v in self.versions]
        return published


@dataclass(frozen=True)
class LoadFailure:
    name: str
    version: int
    reason: str


Observe = Callable[[str, int], object]
Progress = Callable[[int, int, str], None]   # (versions loaded, versions to load, the one loading now)


class ServedRepository:
    """name -> version -> ServedModel | LoadFailure. Thread-safe for lookups (the table is fixed after load)."""

    def __init__(self, root: Path, table: dict[str, dict[int, ServedModel | LoadFailure]]):
        self.root, self.table = root, table
        self._closed = threading.Event()

    @classmethod
    def load(cls, root: Path, options: LoadOptions, models: list[str] | None = None,
             policy: VersionPolicy = VersionPolicy(), observer_for: Observe | None = None,
             progress: Progress = lambda done, total, what: None) -> ServedRepository:
        """Load the chosen models; one-line GxrError when there is nothing to serve at all."""
        root = Path(root)
        if not root.is_dir():
            raise GxrError(f"{root}: model repository not found")
        table: dict[str, dict[int, ServedModel | LoadFailure]] = {}
        chosen = _chosen(root, models, policy)
        total, done = sum(len(vs) for vs in chosen.values()), 0
        for name, versions in chosen.items():
            table[name] = {}
            for v in versions:
                progress(done, total, f"{name}/{v}")
                done += 1
                observer = observer_for(name, v) if observer_for else None
                try:
                    table[name][v] = ServedModel.load(root / name / str(v), name, v, options, observer)
                except Exception as exc:   # one version failing to load must not stop the others
                    reason = one_line(str(exc).replace(f"{root}/", ""), 300)   # no server paths to clients
                    table[name][v] = LoadFailure(name, v, reason)
        progress(total, total, "")
        if not any(isinstance(s, ServedModel) for vs in table.values() for s in vs.values()):
            failures = [s for vs in table.values() for s in vs.values()]
            why = f": {failures[0].name}/{failures[0].version}: {failures[0].reason}" if failures else ""
            raise GxrError(f"{root}: no model version could be loaded{why}")
        return cls(root, table)

    # ---- lookups --------------------------------------------------------------------------------------
    def get(self, name: str, version: str = "") -> ServedModel:
        """The ready version asked for (default: the newest ready one); NotFound / Unavailable otherwise."""
        versions = self.table.get(check_name(name))
        if versions is None:
            raise NotFound(f"unknown model {name!r} (served: {', '.join(sorted(self.table))})")
        if check_version(version):
            entry = versions.get(int(version))
            if entry is None:
                raise NotFound(f"model {name!r} has no version {version} (versions: "
                               f"{', '.join(map(str, sorted(versions)))})")
            if isinstance(entry, LoadFailure):
                raise Unavailable(f"model {name!r} version {version} is not available: it failed to load: "
                                  f"{entry.reason}")
            return entry
        ready = [s for _, s in sorted(versions.items()) if isinstance(s, ServedModel)]
        if not ready:
            first = next(iter(versions.values()))
            raise Unavailable(f"model {name!r} has no ready version ({first.name}/{first.version} failed to load: "
                              f"{first.reason})")
        return ready[-1]

    def ready_versions(self, name: str) -> list[str]:
        return [str(v) for v, s in sorted(self.table[name].items()) if isinstance(s, ServedModel)]

    def ready(self) -> bool:
        """Every served model name has at least one ready version (and the server is not draining)."""
        return not self._closed.is_set() and all(self.ready_versions(n) for n in self.table)

    def index(self) -> list[VersionState]:
        return [VersionState(name, str(v), "READY", "") if isinstance(s, ServedModel) else
                VersionState(name, str(v), "UNAVAILABLE", s.reason)
                for name, versions in sorted(self.table.items()) for v, s in sorted(versions.items())]

    def served(self) -> list[ServedModel]:
        return [s for vs in self.table.values() for s in vs.values() if isinstance(s, ServedModel)]

    def drain(self) -> None:
        """Stop reporting ready (load balancers stop sending) and run queued batches without waiting for more."""
        self._closed.set()
        for served in self.served():
            served.batcher.flush()

    def close(self) -> None:
        self.drain()
        for served in self.served():
            served.close()


def _chosen(root: Path, models: list[str] | None, policy: VersionPolicy) -> dict[str, list[int]]:
    """name -> the version numbers to load; unknown names asked for and an empty repository are one-line errors."""
    found = {p.name: published_versions(p) for p in sorted(root.iterdir())
             if p.is_dir() and NAME_PATTERN.fullmatch(p.name) and ".." not in p.name}
    found = {name: versions for name, versions in found.items() if versions}
    if models:
        missing = [m for m in models if m not in found]
        if missing:
            raise GxrError(f"{root}: no published model named {', '.join(missing)} (found: "
                           f"{', '.join(found) or 'none'})")
        found = {m: found[m] for m in models}
    if not found:
        raise GxrError(f"{root}: empty model repository (no models/<name>/<version>/manifest.json)")
    chosen = {name: policy.select(versions) for name, versions in found.items()}
    empty = [name for name, versions in chosen.items() if not versions]
    if empty:
        raise GxrError(f"{root}: the version policy leaves no version of {', '.join(empty)}")
    return chosen
