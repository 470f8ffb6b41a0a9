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

# Seed a database of its own (zenzefi_console_10m) with 10 M audit rows.
seed-console:
    bash bench/seed_audit.sh

# Time every API call of the admin console's pages on the seeded database.
console-pages:
    bash bench/console_pages.sh

# Property-based run of the API against its own /openapi.json (schemathesis, on
# loopback; embedded profile, temp SQLite file). Env knobs: scripts/schemathesis.sh.
schemathesis:
    bash scripts/schemathesis.sh

# Fill a separate PostgreSQL database (zenzefi_usage_bench) with 10 M usage
# buckets for the SPEC §14 query targets; tests never use it.
seed-usage:
    psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'zenzefi_usage_bench'" | grep -q 1 || psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE zenzefi_usage_bench"
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/zenzefi_usage_bench cargo run -q -p migration -- up
    psql -h 127.0.0.1 -U postgres -d zenzefi_usage_bench -f bench/usage_seed.sql

# Time one token's 30 days by hour and a top-50 over 24 h on the seeded
# database (p50 of 20 runs each, through the real store).
bench-usage:
    USAGE_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/zenzefi_usage_bench cargo test -p zenzefi-persistence --test usage_bench -- --ignored --nocapture
