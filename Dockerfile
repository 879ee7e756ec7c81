# overdue in a container: `docker build -t overdue .` then
#   docker run -p 4000:4000 -v overdue-data:/data -e PING_ALERT_URI=https://… overdue
# State lives in the /data volume; every option can also be passed as a flag after the
# image name (`docker run overdue --help`).

FROM rust:1-bookworm AS builder
WORKDIR /src
# Dependencies first, against stub sources: this layer is rebuilt only when Cargo.toml
# or Cargo.lock change, not on every edit of src/.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && echo 'fn main() {}' > benches/hot_paths.rs \
    && cargo build --release --locked --bin overdue \
    && rm -rf src benches
# askama.toml tells the template derive where the dashboard's templates are.
COPY askama.toml ./
COPY src ./src
COPY benches ./benches
# touch: the stubs' build is newer than the copied files' modification times.
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin overdue \
    && strip target/release/overdue

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 overdue \
    && useradd --system --uid 10001 --gid overdue --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin overdue \
    && mkdir /data \
    && chown overdue:overdue /data
COPY --from=builder /src/target/release/overdue /usr/local/bin/overdue
# Listen beyond loopback inside the container; set OVERDUE_ADMIN_TOKEN too, or the
# job routes are open to whoever reaches the port (overdue warns at start).
ENV OVERDUE_LISTEN=0.0.0.0:4000 \
    OVERDUE_STORE=sqlite:///data/overdue.db
# Owned by the user above before it is declared, so a new volume starts writable.
VOLUME /data
WORKDIR /data
USER overdue:overdue
EXPOSE 4000
# No HEALTHCHECK: the slim image has no HTTP client. Probe GET /livez (liveness) and
# GET /readyz (readiness) from the orchestrator instead.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/overdue"]
