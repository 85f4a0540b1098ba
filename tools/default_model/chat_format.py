"""The text around each problem: special tokens, the prompt the chat template renders, the assistant turn.

render_prompt() is a fast stand-in for chat_template.jinja (training renders a million prompts); selftest.py
checks it against the template rendered by Jinja2 as transformers renders it, and train.py against
tokenizer.apply_chat_template on the GPU machine before training starts. Standard library only.
"""

from __future__ import annotations

import os

ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
# (content, special). The think tags are added tokens that are not special, as in Qwen3: skip_special_tokens
# keeps them, so a decoded completion still shows where the reasoning ends.
ADDED_TOKENS = ((ENDOFTEXT, True), (IM_START, True), (IM_END, True), (THINK_OPEN, False), (THINK_CLOSE, False))

DEFAULT_SYSTEM = "You are a helpful assistant."
TEMPLATE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "chat_template.jinja")


def chat_template() -> str:
    with open(TEMPLATE_PATH, encoding="utf-8") as f:
        return f.read()


def render_prompt(question: str, system: str | None = None, thinking: bool = True) -> str:
    """What chat_template.jinja renders for [system?, user] with add_generation_prompt=True."""
    text = f"{IM_START}system\n{system}{IM_END}\n" if system is not None else ""
    text += f"{IM_START}user\n{question}{IM_END}\n{IM_START}assistant\n"
    return text + (f"{THINK_OPEN}\n" if thinking else f"{THINK_OPEN}\n\n{THINK_CLOSE}\n\n")


def completion(reasoning: str, answer: str, thinking: bool = True) -> str:
    """What the model must write after render_prompt(): the rest of the thinking, then the answer, then IM_END."""
    if thinking:
        return f"{reasoning}\n{THINK_CLOSE}\n\n{answer}{IM_END}"
    return f"{answer}{IM_END}"


def split_reasoning(generated: str) -> tuple[str | None, str]:
    """(reasoning, content) of a completion generated after a prompt that opened <think>; reasoning is None when
    the model never closed its thinking (then there is no content either)."""
    text = generated.split(IM_END)[0]
    if THINK_CLOSE not in text:
        return None, ""
    reasoning, content = text.split(THINK_CLOSE, 1)
    return reasoning.strip("\n"), content.lstrip("\n")
