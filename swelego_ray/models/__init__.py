"""Models the project builds itself (tiny, offline) and the chat templates it ships."""

from swelego_ray.models.tiny import (
    build_tiny_model,
    build_tiny_tokenizer,
    ensure_tiny_model,
    load_chat_template,
)

__all__ = ["build_tiny_model", "build_tiny_tokenizer", "ensure_tiny_model", "load_chat_template"]
