"""The knowledge a suite runs against: loaded from its files (for scorers and hashes) and embedded
once per content hash into a Chroma directory under the data dir, so re-runs embed nothing."""

from __future__ import annotations

import hashlib
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ground.settings import Settings
from knowledge.ingest import ingest_paths
from knowledge.loaders import iter_files, load_file
from knowledge.models import Chunk
from knowledge.store import KnowledgeStore

URL = re.compile(r"https?://[^\s)>\]\"']+")


def norm_url(url: str) -> str:
    return url.rstrip(".,;:!?'\"").rstrip("/").lower()


@dataclass
class EvalKnowledge:
    paths: list[Path]
    chunks: list[Chunk]
    hash: str
    ids: set[str] = field(default_factory=set)
    urls: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, paths: list[Path]) -> EvalKnowledge:
        chunks: list[Chunk] = []
        for path in iter_files(paths):
            chunks.extend(load_file(path))
        digest = hashlib.sha256()
        for chunk in sorted(chunks, key=lambda c: c.id):
            digest.update(f"{chunk.id}\0{chunk.content_hash}\n".encode())
        return cls(
            paths=paths,
            chunks=chunks,
            hash=digest.hexdigest()[:16],
            ids={c.id for c in chunks},
            urls={norm_url(u) for c in chunks for u in URL.findall(c.text)},
        )

    def text_of(self, chunk_id: str) -> str:
        return next((c.text for c in self.chunks if c.id == chunk_id), "")

    def guidelines(self) -> list[Chunk]:
        return [c for c in self.chunks if c.kind == "guideline"]

    def platform_guideline(self, platform: str) -> Chunk | None:
        return next((c for c in self.guidelines() if (c.platform or "").lower() == platform.lower()), None)

    def brand_voice(self) -> Chunk | None:
        return next((c for c in self.guidelines() if c.attrs.get("guideline") == "brand_voice"), None)

    def max_chars(self, platform: str) -> int | None:
        guide = self.platform_guideline(platform)
        value = guide.attrs.get("max_chars") if guide else None
        return int(value) if value else None

    def banned_phrases(self) -> list[str]:
        phrases: list[str] = []
        for chunk in self.guidelines():
            listed = chunk.attrs.get("banned_phrases") or []
            if isinstance(listed, list):
                phrases.extend(str(p) for p in listed)
        return phrases


def agent_settings(settings: Settings, knowledge: EvalKnowledge, workspace: str, scratch: Path) -> Settings:
    """Settings for the agent under test: the suite's knowledge, and checkpoints in a scratch dir.

    The knowledge directory is keyed by content hash and reused across runs (ingest is idempotent).
    """
    kb_dir = settings.data_dir / "evals" / "kb" / knowledge.hash
    scratch.mkdir(parents=True, exist_ok=True)
    agent = settings.model_copy(update={"data_dir": scratch, "database_url": None, "chroma_path": kb_dir,
                                        "chroma_url": None})
    ingest_paths(KnowledgeStore(agent), knowledge.paths, workspace)
    return agent


def scratch_dir(settings: Settings) -> Path:
    root = settings.data_dir / "evals" / "scratch"
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="run-", dir=root))
