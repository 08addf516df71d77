"""Typer CLI (the top layer): one module per command group; a command parses, calls one library function
with keyword arguments and renders (`show`, gxr.core.render). Heavy imports happen inside command bodies."""
