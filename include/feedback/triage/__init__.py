"""Triage: masking, classification, priority, routing, numbering and deadlines."""
