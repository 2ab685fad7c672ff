"""LLM backends behind one protocol (base.py); build_llm(settings) picks one.

Importing this package is cheap: backends import their runtimes on first use.
"""

from coach.llm.base import LLM, ChatMessage, GenerationConfig
from coach.llm.factory import build_llm

__all__ = ["LLM", "ChatMessage", "GenerationConfig", "build_llm"]
