"""Generated from engine/reapi/protos/ by its generate.py: do not edit."""
