"""One module per ``pipesdfa`` subcommand; each exposes ``register(subparsers)``."""
