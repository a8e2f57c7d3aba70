# faasm-rs: one image, one process per host (`faasm serve`), many hosts on one Redis
# (docs/cluster.md). Build: `docker build -t faasm-rs .`
#
# Stage 1 builds the binary in release, checks that `faasm cc` compiles an example with the
# Debian clang-19 wasm32-wasi toolchain (scripts/setup's packages), installs the Python
# interpreter (scripts/install-python) and compiles it once (`faasm python-setup`).
# Stage 2 carries only what a host runs: the binary, the SDK and the Python interpreter with
# its compiled cache.

FROM rust:1.95-bookworm AS build
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        clang-19 lld-19 libclang-rt-19-dev-wasm32 wasi-libc \
        libc++-19-dev-wasm32 libc++abi-19-dev-wasm32 python3 python3-pip \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --bin faasm \
    && ./target/release/faasm cc -o /tmp/echo.wasm examples/c/echo.c
# The interpreter and its compiled cache land in $XDG_CACHE_HOME/faasm-rs, where
# `faasm serve` looks by default.
ENV XDG_CACHE_HOME=/opt/faasm/cache
RUN scripts/install-python && ./target/release/faasm python-setup

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home-dir /var/lib/faasm --create-home faasm
COPY --from=build /src/target/release/faasm /usr/local/bin/faasm
COPY --from=build /src/sdk /usr/local/share/faasm/sdk
# The compiled interpreter is reused where the CPU matches the build machine's; elsewhere the
# first Python upload compiles it again into the same (writable) directory.
COPY --from=build --chown=faasm:faasm /opt/faasm/cache /opt/faasm/cache
ENV XDG_CACHE_HOME=/opt/faasm/cache \
    FAASM_DATA_DIR=/var/lib/faasm
USER faasm
WORKDIR /var/lib/faasm
VOLUME /var/lib/faasm
# Upload server (functions, state, files; /ping) and invoke server.
EXPOSE 8002 8080
HEALTHCHECK --interval=10s --timeout=3s CMD curl -fsS http://127.0.0.1:8002/ping || exit 1
ENTRYPOINT ["faasm"]
CMD ["serve"]
