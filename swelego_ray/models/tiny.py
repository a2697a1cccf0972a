"""Tiny tokenizer and model the project builds offline, for tests, the demo and CPU runs.

Nothing is downloaded: the tokenizer is a byte-level BPE trained with `tokenizers` on a
small shipped corpus (code, shell output, English), and the model is a randomly
initialised Qwen3ForCausalLM sized to load in transformers, Ray Train and vLLM's CPU
engine: vLLM's CPU attention needs head_dim >= 32, and reloading weights in place matched
a fresh engine only with untied embeddings.
Real users point the same code at Qwen3 checkpoints instead.
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

logger = logging.getLogger(__name__)

SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<tool_call>",
    "</tool_call>",
    "<think>",
    "</think>",
    "<tool_response>",
    "</tool_response>",
)
EOS_TOKEN = "<|im_end|>"
PAD_TOKEN = "<|endoftext|>"
DEFAULT_TEMPLATE = "qwen3_nothink"


def load_chat_template(name: str = DEFAULT_TEMPLATE) -> str:
    """The text of a chat template shipped in swelego_ray/models/templates/<name>.jinja."""
    folder = resources.files("swelego_ray.models") / "templates"
    path = folder / f"{name}.jinja"
    if not path.is_file():
        known = sorted(p.name.removesuffix(".jinja") for p in folder.iterdir())
        raise ValueError(f"unknown chat template {name!r}; shipped templates: {known}")
    return path.read_text()


def _corpus() -> str:
    return (resources.files("swelego_ray.models") / "tiny_corpus.txt").read_text()


def build_tiny_tokenizer(
    out_dir: str | Path | None = None,
    *,
    vocab_size: int = 1024,
    chat_template: str = DEFAULT_TEMPLATE,
) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on the shipped corpus; save it to `out_dir` when given.

    Deterministic: the same corpus and vocab size give the same tokenizer. The special
    tokens are atomic; eos = `<|im_end|>` (end of a chat turn), pad = `<|endoftext|>`.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus().splitlines(keepends=True), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        model_max_length=32768,
    )
    fast.chat_template = load_chat_template(chat_template)
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        fast.save_pretrained(str(out_dir))
    return fast


def build_tiny_model(
    out_dir: str | Path,
    tokenizer_dir: str | Path | None = None,
    *,
    seed: int = 0,
    hidden_size: int = 64,
    intermediate_size: int = 128,
    num_hidden_layers: int = 2,
    max_position_embeddings: int = 32768,
) -> Path:
    """A random-init Qwen3ForCausalLM saved in Hugging Face format with its tokenizer.

    `tokenizer_dir` reuses a saved tokenizer; otherwise `build_tiny_tokenizer` is called.
    The same seed gives the same weights (the global torch RNG is left untouched).
    """
    import torch
    from transformers import AutoTokenizer, GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if tokenizer_dir is None:
        tokenizer = build_tiny_tokenizer(out)
    else:
        tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
        tokenizer.save_pretrained(str(out))
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=32,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        torch_dtype="float32",
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen3ForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    model.save_pretrained(str(out))
    logger.info("tiny model (%d parameters) saved to %s", model.num_parameters(), out)
    return out


def ensure_tiny_model(out_dir: str | Path, seed: int = 0) -> Path:
    """`out_dir` holding the tiny model: built there unless a model is already there."""
    path = Path(out_dir)
    if not (path / "config.json").is_file():
        build_tiny_model(path, seed=seed)
    return path
