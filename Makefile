# Every target CI and the README use. `make demo` and `make test` work on a fresh machine with
# only Python 3.11 and the package registries.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP_VERSION := 26.3
PROTOS := $(shell find proto -name '*.proto')
STAMP_DEPS := $(VENV)/.deps-installed
STAMP_PROTO := alfagent/.generated
# `make up` and `make demo` start the local model service `llm` too; WITH_LLM=0 leaves it out.
WITH_LLM ?= 1
LLM_PREREQ := $(if $(filter 0,$(WITH_LLM)),,llm)

.PHONY: setup proto llm up down demo test test-containers images hashes pin-images lint typecheck check bench report clean

setup: $(STAMP_DEPS) $(STAMP_PROTO)

$(STAMP_DEPS): pyproject.toml requirements/constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check "pip==$(PIP_VERSION)"
	$(BIN)/python -m pip install -q --disable-pip-version-check -c requirements/constraints.txt --group dev
	touch $@

# Generated code lands in alfagent/ (git-ignored), importable as alfagent.<service>.v1.
proto: $(STAMP_PROTO)

# Generated beside the old package and swapped in, so a test run going on meanwhile never finds
# alfagent/ missing or half-written.
$(STAMP_PROTO): $(PROTOS) $(STAMP_DEPS)
	rm -rf .proto-gen && mkdir .proto-gen
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m grpc_tools.protoc -Iproto \
		--python_out=.proto-gen --grpc_python_out=.proto-gen --mypy_out=quiet:.proto-gen \
		--mypy_grpc_out=quiet:.proto-gen $(PROTOS)
	touch .proto-gen/alfagent/.generated
	rm -rf .proto-old && if [ -d alfagent ]; then mv alfagent .proto-old; fi
	mv .proto-gen/alfagent alfagent && rm -rf .proto-gen .proto-old

# llama-server built from pinned sources and the model (LLM_MODEL, default Qwen2.5-Coder 1.5B)
# fetched and hash-checked, into ALFAGENT_CACHE (~/.cache/alfagent). The first run takes ~7 min
# on 2 cores plus a 1.1 GB download; later runs find both and return at once.
llm: setup
	$(BIN)/python -m llm_service.build
	$(BIN)/python -m llm_service.fetch

up: setup $(LLM_PREREQ)
	WITH_LLM=$(WITH_LLM) $(BIN)/python -m launcher up

down:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m launcher down; fi

demo: setup $(LLM_PREREQ)
	WITH_LLM=$(WITH_LLM) $(BIN)/python -m launcher demo

# The suite against local processes, then the integration suite against the compose stack run by a
# real container engine (skipped with the reason where none runs; CI makes that skip a failure).
test: setup
	$(BIN)/python -m pytest
	$(MAKE) --no-print-directory test-containers

test-containers: setup
	ALFAGENT_TEST_STACK=containers $(BIN)/python -m pytest tests/test_end_to_end.py tests/test_bad_input.py \
		tests/env/test_contract_services.py tests/containers tests/scale/test_compose_scale.py

# The service images, one target of the root Dockerfile each (ENGINE=docker or podman).
images:
	tools/containers/build-images.sh $(ENGINE)

# requirements/hashed/: what the images install with `pip --require-hashes`, each package pinned as
# requirements/constraints.txt pins it with the hash of the file pip picks on the images' platform
# (linux x86_64, CPython 3.11, glibc 2.36; it refuses to run elsewhere). Run after changing either.
hashes: setup
	$(BIN)/python tools/containers/hash_requirements.py

# The Kubernetes overlays' image digests (deploy/overlays/*), set to those of the images built here
# (`make images` first); PLACEHOLDER=1 puts the committed all-zero placeholders back.
pin-images:
	$(PYTHON) tools/containers/pin_images.py $(if $(ENGINE),--engine $(ENGINE)) $(if $(filter 1,$(PLACEHOLDER)),--placeholder)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	tools/proto-check.sh

typecheck: setup
	$(BIN)/mypy llm_service alfagent_common alfagent_clients env_service store_service agent_service gamegen launcher bench tests clients/python/alfagent_client clients/python/examples

check: lint typecheck test

bench: setup
	$(BIN)/python -m bench

# The HTML report of the run stored last in var/store (RUN_ID=… for another), read through the
# store at STORE_ADDR; expert plans from the env at ENV_ADDR when it runs (`make up`).
REPORT ?= .run/report.html
report: setup
	$(BIN)/python -m agent_service report $(if $(RUN_ID),--run-id $(RUN_ID),--latest) \
		--env "$${ENV_ADDR:-localhost:50052}" --out $(REPORT)

clean:
	rm -rf alfagent .run .pytest_cache .mypy_cache .ruff_cache
