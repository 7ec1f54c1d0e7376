"""Waiting helpers for client tests (they live in the shipped test kit)."""

from jupyter_samp.testing.waiting import event_queue, wait_until

__all__ = ["event_queue", "wait_until"]
