# Beam SDK worker image with newswire and the spaCy model baked in, for the runners whose workers run
# the graph away from the driver (see deploy/RUNNERS.md):
#   Dataflow  --sdk_container_image=REGISTRY/newswire-beam-sdk:0.1.0
#   Flink     --environment_type=DOCKER --environment_config=REGISTRY/newswire-beam-sdk:0.1.0, or as
#             the worker-pool sidecar of each TaskManager (--environment_type=EXTERNAL)
#
#   docker build -f deploy/beam-sdk.Dockerfile -t REGISTRY/newswire-beam-sdk:0.1.0 .
#
# The base must be Beam's own SDK image of the apache-beam version in requirements.lock and of the job
# image's Python (3.11): the driver and the workers must run the same SDK.
ARG BEAM_SDK_IMAGE=apache/beam_python3.11_sdk:2.77.0
FROM ${BEAM_SDK_IMAGE}

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /opt/newswire-src
COPY requirements.lock ./
RUN pip install --require-hashes --only-binary=:all: -r requirements.lock
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
RUN pip install --no-deps --no-build-isolation .

# Workers load the model once per SDK worker process; fail here rather than in the first batch.
RUN python -c "from pipeline.io.ner import load_ner, resolve_model_name; \
print('spaCy model:', resolve_model_name()); load_ner()"

# Beam's boot program starts the SDK harness (Dataflow requires this entrypoint).
ENTRYPOINT ["/opt/apache/beam/boot"]
