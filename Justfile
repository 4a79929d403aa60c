# Tessera tasks. Run through uv so the locked tools are used: `uv run just <recipe>`.

set dotenv-load := false

# list the recipes
default:
    @just --list

# run the API server (embedded mode when nothing is configured); `exec`, so that a SIGTERM
# that just forwards reaches the server itself instead of only the shell around it
serve *args:
    exec tessera serve {{args}}

# database migrations: `just migrate upgrade`, `just migrate downgrade base`, ...
migrate *args:
    tessera migrate {{args}}

# lint, format check, strict types, architecture contracts
check:
    ruff check src tests migrations bench
    ruff format --check src tests migrations bench
    mypy
    lint-imports

# rewrite the code into the house format
fmt:
    ruff format src tests migrations bench
    ruff check --fix src tests migrations bench

# the whole test suite, in parallel (PostgreSQL and Redis tests skip loudly when absent)
test *args:
    pytest -n auto {{args}}

# the hostile-input fuzz suite at length, a new seed each time: `just fuzz` (200 examples per
# operation and role), `just fuzz 1000`; `FUZZ_SEED=N just fuzz` repeats a run
fuzz examples="200" *args:
    FUZZ_EXAMPLES={{examples}} FUZZ_SEED="${FUZZ_SEED:-$(date +%s)}" pytest -n 3 tests/e2e/openapi/test_hostile_fuzz.py {{args}}

# the in-process e2e tests many times in a row, every core kept busy meanwhile (hunts hangs):
# `just soak-tests` is 30 runs, `just soak-tests 5 tests/e2e/flags` 5 of one folder
soak-tests *args:
    python -m tests.soak {{args}}

# benchmarks under bench/ (figures for the issue notes, never assertions)
bench *args:
    python -m bench {{args}}

# start PostgreSQL and Redis locally, and install headless Chromium for the browser tests
# (Debian packages, only when missing)
services:
    bash scripts/services.sh
    bash scripts/browser.sh
