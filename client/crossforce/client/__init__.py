"""The force SDK, publisher, local token store, vetting and disclosure-desk commands, CLI."""
