"""Counting prompt tokens: the server's own tokenizer when it has one, else a calibrated estimate.

llama-server answers `POST /tokenize` (at the base URL without `/v1`) with the model's tokens, so
the prompt budget can be kept in real tokens. Each distinct text is tokenized once per endpoint
(a few short texts per turn, the system message once). The chat template adds a few tokens per
message; that overhead is learnt from the `usage.prompt_tokens` the server reports.

Endpoints without `/tokenize` (OpenAI, vLLM's OpenAI server at its root) fall back to characters
divided by a ratio: 4 at first (conservative for English with common tokenizers), then the ratio
the last `usage.prompt_tokens` showed for the prompt that was sent.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence

from agent_service.llm.client import Message

DEFAULT_CHARS_PER_TOKEN = 4.0
# Tokens a chat template adds per message before anything is learnt (Qwen2.5, Llama 3: 4-5).
DEFAULT_MESSAGE_OVERHEAD = 5
_MAX_CACHED_TEXTS = 4096

Tokenize = Callable[[str], Awaitable[int | None]]


class TokenCounter:
    """Sizes of messages in one endpoint's tokens; shared by the episodes using that endpoint."""

    def __init__(self, tokenize: Tokenize | None = None) -> None:
        self._tokenize = tokenize
        self._counts: OrderedDict[str, int] = OrderedDict()
        self.chars_per_token = DEFAULT_CHARS_PER_TOKEN
        self.message_overhead = DEFAULT_MESSAGE_OVERHEAD

    @property
    def exact(self) -> bool:
        """Whether counts come from the server's tokenizer (so far)."""
        return self._tokenize is not None

    async def prepare(self, texts: Sequence[str]) -> None:
        """Tokenizes the texts not counted yet; the first failure switches to the estimate."""
        for text in texts:
            if self._tokenize is None or text in self._counts:
                continue
            count = await self._tokenize(text)
            if count is None:
                self._tokenize = None
                self._counts.clear()
                return
            self._counts[text] = count
            if len(self._counts) > _MAX_CACHED_TEXTS:
                self._counts.popitem(last=False)

    def text(self, text: str) -> int:
        if self._tokenize is not None:
            count = self._counts.get(text)
            if count is not None:
                self._counts.move_to_end(text)
                return count
        return int(len(text) / self.chars_per_token) + 1

    def message(self, message: Message) -> int:
        return self.text(message.content) + self.message_overhead

    def messages(self, messages: Sequence[Message]) -> int:
        return sum(self.message(m) for m in messages)

    def calibrate(self, messages: Sequence[Message], prompt_tokens: int) -> None:
        """Learns from what the server counted for `messages` (its `usage.prompt_tokens`)."""
        if prompt_tokens <= 0 or not messages:
            return
        if self._tokenize is not None:
            content = sum(self.text(m.content) for m in messages)
            overhead = (prompt_tokens - content) / len(messages)
            # A template adds a handful of tokens per message; anything else is not overhead.
            self.message_overhead = max(0, min(16, round(overhead)))
        else:
            chars = sum(len(m.content) for m in messages)
            learnt = chars / prompt_tokens
            # Bounded: a server reporting nonsense must not make the estimate absurd.
            self.chars_per_token = max(1.5, min(6.0, learnt))
            self.message_overhead = 0
