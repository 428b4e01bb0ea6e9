"""The embedding model's graph with its word table gathered in int8, built once per machine and cached.

The pinned model stores its weights as int8 with a scale (``Mul(Cast(q), scale)``); ONNX Runtime folds those
products into float32 constants when it builds a session, so the 30,522 x 384 word table is held as 47 MB of
floats to look up a few dozen rows per text. Here the lookup moves in front of the dequantisation
(``Mul(Cast(Gather(q, ids)), Gather(scale, ids))``): the same float operations on the same rows, so the
vectors are bit-identical, and the session keeps the table in int8 (12 MB). The matrix weights stay as they
are (dequantised once at load): quantising activations too was 2.5x faster on one text but moved every
vector (cosine 0.992 to the current ones), which would need a re-embedding of every knowledge base.

The rewrite needs the ``onnx`` package, which the serving process never imports: :func:`derived_model` runs
``python -m knowledge.model_graph SOURCE TARGET`` once and later processes load the cached file, checked
against the SHA-256 recorded beside it when it was built. Any failure falls back to the pinned model.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)
REWRITE = "gather-int8-v1"  # names the rewrite: a change to it builds a new file


def cache_dir() -> Path:
    """``REPLYDESK_MODEL_CACHE``, else ``$XDG_CACHE_HOME/replydesk/models`` (``~/.cache`` by default)."""
    configured = os.environ.get("REPLYDESK_MODEL_CACHE")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "replydesk" / "models"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def derived_model(source: Path, source_sha256: str) -> Path:
    """The rewritten graph of ``source`` (whose digest the caller has verified), built if missing; ``source``
    itself when it cannot be built or read back intact."""
    target = cache_dir() / f"{source_sha256[:16]}-{REWRITE}.onnx"
    recorded = target.with_suffix(".sha256")
    try:
        if target.exists() and recorded.exists() and file_sha256(target) == recorded.read_text().strip():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([sys.executable, "-m", "knowledge.model_graph", str(source), str(target)],
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "no output")
        return target
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        log.warning("embedding model: using the pinned graph as it is (its int8 word-table rewrite failed: %s)",
                    exc)
        return source


def rewrite(source: Path, target: Path) -> None:
    """Write the rewritten graph to ``target`` (atomically, with its SHA-256 beside it)."""
    import onnx
    from onnx import helper

    model = onnx.load(str(source))
    graph = model.graph
    made_by = {out: node for node in graph.node for out in node.output}
    constants = {init.name for init in graph.initializer}
    nodes = []
    moved = 0
    for node in graph.node:
        table = made_by.get(node.input[0]) if node.op_type == "Gather" else None
        cast = made_by.get(table.input[0]) if table is not None and table.op_type == "Mul" else None
        if table is None or cast is None or cast.op_type != "Cast" or cast.input[0] not in constants:
            nodes.append(node)
            continue
        out, ids, axis = node.output[0], node.input[1], [a for a in node.attribute if a.name == "axis"]
        gather_axis = helper.get_attribute_value(axis[0]) if axis else 0
        nodes += [
            helper.make_node("Gather", [cast.input[0], ids], [f"{out}/q"], name=f"{node.name}/q", axis=gather_axis),
            helper.make_node("Gather", [table.input[1], ids], [f"{out}/scale"], name=f"{node.name}/scale",
                             axis=gather_axis),
            helper.make_node("Cast", [f"{out}/q"], [f"{out}/float"], name=f"{node.name}/float",
                             to=onnx.TensorProto.FLOAT),
            helper.make_node("Mul", [f"{out}/float", f"{out}/scale"], [out], name=f"{node.name}/dequantised"),
        ]
        moved += 1
    if not moved:
        raise RuntimeError("no int8 table lookup found: the graph is not the one this rewrite knows")
    # Drop what no longer feeds anything (the whole-table dequantisation), so no session ever builds it.
    wanted = {out.name for out in graph.output}
    kept: list[onnx.NodeProto] = []
    for node in reversed(nodes):
        if any(out in wanted for out in node.output):
            kept.append(node)
            wanted.update(node.input)
    kept.reverse()
    del graph.node[:]
    graph.node.extend(kept)
    used = {name for node in kept for name in node.input}
    inits = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(inits)
    onnx.checker.check_model(model)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    onnx.save(model, str(partial))
    digest = file_sha256(partial)
    os.replace(partial, target)
    target.with_suffix(".sha256").write_text(digest + "\n")


if __name__ == "__main__":
    rewrite(Path(sys.argv[1]), Path(sys.argv[2]))
