"""Application: config, the dependency-injector container and the entry points."""
