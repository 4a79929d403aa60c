"""Benchmarks for the issue notes: `uv run just bench [--only NAME] [--duration S]`.

Each benchmark is a module exposing `NAME`, `TITLE`, `NOTES`, `async def run(opts)`
returning rows of figures and, optionally, `def setup(opts) -> str`, the one line saying
how it ran; `bench.registry` lists them. Figures only, never assertions.
"""
