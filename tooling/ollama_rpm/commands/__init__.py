"""One module per `ollama-rpm` subcommand."""
