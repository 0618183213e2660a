"""The ``pipesdfa`` command: :mod:`.main` is the entry point; one module per subcommand, each exposing
``register(subparsers)``, plus the argument code they share (:mod:`.hwargs`, :mod:`.analog_args`)."""
