# syntax=docker/dockerfile:1.6
# Multi-stage build: a full Rust toolchain compiles, a distroless image runs.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the registry and the build folder between builds.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin im-access \
    && cp target/release/im-access /im-access

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /im-access /usr/local/bin/im-access
COPY config /etc/im-access/config
ENV IM_CONFIG_DIR=/etc/im-access/config \
    IM__SERVER__BIND=0.0.0.0:18306 \
    IM__APP__DATA_DIR=/var/lib/im-access
WORKDIR /var/lib/im-access
EXPOSE 18306
USER nonroot
ENTRYPOINT ["/usr/local/bin/im-access"]
