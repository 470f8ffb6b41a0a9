# Everyday commands of Zenzefi Gateway. `just` alone lists them.

# List the recipes.
default:
    @just --list

# Serve the API on the embedded default (SQLite file, in-process cache).
run:
    cargo run -p zenzefi-api

# Run the background worker.
worker:
    cargo run -p zenzefi-worker

# Run every test; PostgreSQL and Redis on loopback are used by default.
test:
    cargo test --workspace

# Apply pending migrations to the configured database.
migrate:
    cargo run -p zenzefi-api -- migrate

# Format check and clippy with warnings as errors.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings

# What CI runs: starts the services if needed, then lint and tests.
ci:
    bash .ci/run

# Load benchmark on loopback: direct upstream vs nginx reverse proxy vs the gateway
# (embedded and PostgreSQL + Redis profiles).
bench:
    bash bench/run.sh

# Property-based run of the API against its own /openapi.json (schemathesis, on
# loopback; embedded profile, temp SQLite file). Env knobs: scripts/schemathesis.sh.
schemathesis:
    bash scripts/schemathesis.sh
