"""Runs the three services as local processes: `make up`, `make down`, `make demo`, and the tests."""
