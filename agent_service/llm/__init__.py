"""The LLM policy: prompts an OpenAI-compatible chat endpoint and grounds its reply to a command.

- `client`   — one `openai.AsyncOpenAI` per (base_url, key); every failure classified by cause.
- `retries`  — tenacity: 429 (Retry-After), 5xx, timeouts, connection errors and malformed replies
  are retried with jittered exponential back-off, capped in attempts and total wait.
- `fewshot`  — worked examples from our own expert play of `generated_train` games.
- `prompts`  — the two prompt modes and fitting long episodes into the model's context.
- `grounding` — from the model's text to the command sent (exact, normalised, nearest).
- `policy`   — `LLMPolicy` (one per episode) and `LLMPolicies`, which builds them.
- `egress`   — which endpoints a request may name (the configured one, ALFAGENT_ALLOWED_BASE_URLS),
  checked at the edge before any call; `transport` — the HTTP client every call goes through (no
  redirects, only its endpoint, replies bounded); `endpoints` — that the API key goes to the
  configured endpoint only.
- `slots`, `served_model`, `tokens` — the server's slots and queue, the model it serves (name and
  file hash), and token counts from its tokenizer.
"""
