// End-to-end tests wait on real processes and services; Jest's project config has no per-project timeout.
jest.setTimeout(180_000);
