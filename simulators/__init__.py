"""Local HTTP simulators of the platform APIs, for tests, benchmarks and the sandbox demo."""
