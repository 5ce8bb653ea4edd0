"""The standard library of spec fragments (blocks, presets, schedules), shipped as package data."""
