"""Command-line interfaces: each command parses arguments, calls one domain function and
prints the result. Interfaces may import any package; nothing imports them."""
