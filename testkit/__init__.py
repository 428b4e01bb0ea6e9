"""Helpers shared by tests and benchmarks: live servers, loopback OpenAI stub, scripted replies, seeds."""
