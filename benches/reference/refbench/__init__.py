"""The reference for scripts/bench-load.sh: a DRF view guarded by HasAPIKey."""
