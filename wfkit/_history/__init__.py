"""Pure history model: events, commands, activations and payloads. No I/O."""
