# Tessera tasks. Run through uv so the locked tools are used: `uv run just <recipe>`.
# The comment line right above a recipe is what `just --list` shows for it.

set dotenv-load := false

# list the recipes
default:
    @just --list

# `exec`, so that a SIGTERM that just forwards reaches the server itself instead of only
# the shell around it
# run the API server (embedded mode when nothing is configured)
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

# `just fuzz` is 200 examples per operation and role, `just fuzz 1000` more;
# `FUZZ_SEED=N just fuzz` repeats a run
# the hostile-input fuzz suite at length, a new seed each time
fuzz examples="200" *args:
    FUZZ_EXAMPLES={{examples}} FUZZ_SEED="${FUZZ_SEED:-$(date +%s)}" pytest -n 3 tests/e2e/openapi/test_hostile_fuzz.py {{args}}

# `just soak-tests` is 30 runs, `just soak-tests 5 tests/e2e/flags` 5 of one folder
# the in-process e2e tests many times in a row, every core kept busy (hunts hangs)
soak-tests *args:
    python -m tests.soak {{args}}

# first makes sure PostgreSQL, Redis, PgBouncer and wrk are there (scripts/services.sh
# installs only what is missing)
# benchmarks under bench/ (figures for the issue notes, never assertions)
bench *args:
    bash scripts/services.sh
    python -m bench {{args}}

# installs the Debian packages only when they are missing
# start PostgreSQL and Redis locally, and install headless Chromium for the browser tests
services:
    bash scripts/services.sh
    bash scripts/browser.sh
