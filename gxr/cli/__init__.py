"""Typer CLI: one module per command group; heavy imports happen inside command bodies."""
