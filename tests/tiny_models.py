"""Tiny randomly initialised transformers models, saved offline: CLIP and DINOv2.

The encoders that load real models by name (``clip:NAME``, ``hf-image:NAME``) run in
the tests on these, built in a few hundred milliseconds; nothing is downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def tiny_clip_tokenizer(folder: Path) -> tuple[Any, dict[str, int]]:
    """A byte-level CLIP tokenizer with no merges: every printable byte is a token."""
    from transformers import CLIPTokenizer

    printable = [chr(b) for b in range(33, 127)]
    vocab = {c: i for i, c in enumerate(printable)}
    vocab.update({c + "</w>": len(vocab) + i for i, c in enumerate(printable)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt")), vocab


def tiny_clip(folder: Path, projection_dim: int = 8) -> Path:
    """A CLIP with 16-wide one-layer towers and 32-pixel images, saved under ``folder/model``."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    tokenizer, vocab = tiny_clip_tokenizer(folder / "tokenizer")
    text = {
        "vocab_size": len(vocab),
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "max_position_embeddings": 24,
        "bos_token_id": vocab["<|startoftext|>"],
        "eos_token_id": vocab["<|endoftext|>"],
    }
    vision = {
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "image_size": 32,
        "patch_size": 8,
    }
    torch.manual_seed(0)
    config = CLIPConfig(text_config=text, vision_config=vision, projection_dim=projection_dim)
    out = folder / "model"
    CLIPModel(config).save_pretrained(out)
    processor = CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    )
    CLIPProcessor(image_processor=processor, tokenizer=tokenizer).save_pretrained(out)
    return out


def tiny_dinov2(folder: Path, hidden_size: int = 16) -> Path:
    """A one-layer DINOv2 on 32-pixel images: the paper's image encoder family in miniature."""
    import torch
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model

    torch.manual_seed(0)
    config = Dinov2Config(
        hidden_size=hidden_size,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        image_size=32,
        patch_size=8,
    )
    Dinov2Model(config).save_pretrained(folder)
    BitImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}, do_convert_rgb=True
    ).save_pretrained(folder)
    return folder
