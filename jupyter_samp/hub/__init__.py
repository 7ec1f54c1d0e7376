"""The SAMP hub: the router with its profiles, lockfile handling and command."""

from jupyter_samp.hub.hub import ClientInfo, Hub

__all__ = ["ClientInfo", "Hub"]
