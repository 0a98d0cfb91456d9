"""The local model service `llm`: llama.cpp's `llama-server` over a pinned, hash-checked GGUF file.

Standard library only, so that the same commands run in a bare-Python container image:
`python -m llm_service.build`, `python -m llm_service.fetch`, `python -m llm_service`,
`python -m llm_service.healthcheck`.
"""
