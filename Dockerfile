# tributary: `docker build -t tributary .`, or `docker compose up -d` (docker-compose.yml).
# Without a registry for the Rust image, podman builds it from a binary built on the host
# (`--build-context builder=DIR`, see README "Building the image").
# The binary embeds the migrations and the default settings (config/default.toml and each
# source's src/sources/<name>/default.toml); it talks TLS with rustls and
# its own copy of the web PKI roots, so the runtime image needs neither OpenSSL nor
# ca-certificates.

FROM rust:1.95-slim-bookworm AS builder
WORKDIR /build
# The dependencies first, against empty sources: this layer is rebuilt only when
# Cargo.toml or Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
COPY simulator/Cargo.toml simulator/
# The build's settings (SQLX_OFFLINE: the checked queries build against the committed cache
# in .sqlx), the same for the dependencies as for tributary.
COPY .cargo .cargo
RUN mkdir src simulator/src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs simulator/src/lib.rs \
    && cargo build --release --locked \
    && rm -r src simulator/src
COPY src src
COPY simulator/src simulator/src
COPY migrations migrations
COPY config config
COPY .sqlx .sqlx
# COPY keeps the files' times, which may be older than the empty sources' build.
RUN touch src/main.rs src/lib.rs simulator/src/lib.rs \
    && cargo build --release --locked

FROM debian:bookworm-slim
RUN groupadd --system --gid 10001 tributary \
    && useradd --system --uid 10001 --gid tributary --no-create-home \
       --shell /usr/sbin/nologin tributary
COPY --from=builder /build/target/release/tributary /usr/local/bin/tributary
ENV TRIBUTARY__SERVER__BIND=0.0.0.0:8080
ENV TRIBUTARY_LOG_FORMAT=json
USER 10001:10001
EXPOSE 8080
# `tributary healthcheck` asks GET /healthz of the server at server.bind.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["tributary", "healthcheck"]
ENTRYPOINT ["tributary"]
CMD ["run"]
