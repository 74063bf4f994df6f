"""The embedded default backend: small bundled models, offline, on CPU."""
