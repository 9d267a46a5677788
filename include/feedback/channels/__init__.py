"""Intake channels: each module turns one source kind into IntakeItems."""
