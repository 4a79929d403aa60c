"""Benchmarks for the issue notes: `uv run just bench [--only NAME] [--duration S]`.

Each benchmark is a module exposing `NAME`, `TITLE`, `NOTES` and `async def run(opts)`
returning rows of figures; `bench.registry` lists them. Figures only, never assertions.
"""
