"""Bundled fictional child-app sites, served on loopback for the demo and the tests."""
