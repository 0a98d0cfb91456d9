"""Runs the services (agent, env, store, and the local model `llm`) as local processes: `make up`,
`make down`, `make demo`, and the tests."""
