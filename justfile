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
