# ecs-shim server image. Build from the repository root:
#   docker build -t ecs-shim:latest .
#   kind load docker-image ecs-shim:latest     # then: kubectl apply -f manifests/deploy/

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/ecs-shim
WORKDIR /src
# README.md* : the package metadata takes the README when there is one.
COPY pyproject.toml README.md* ./
COPY shim/ shim/
RUN /opt/ecs-shim/bin/pip install .

# Same base as the build stage: the virtualenv's python links to its interpreter.
FROM ${PYTHON_IMAGE}
# The root filesystem is read-only in the cluster; HOME points at /tmp (an emptyDir there) for
# anything that writes under ~.
ENV PATH=/opt/ecs-shim/bin:$PATH \
    HOME=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --gid 10001 ecs-shim \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin ecs-shim
COPY --from=build /opt/ecs-shim /opt/ecs-shim
# Numeric, so that Kubernetes can check runAsNonRoot against the image.
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["ecs-shim", "serve", "--host", "0.0.0.0", "--port", "8080"]
