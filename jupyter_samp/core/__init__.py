"""The sans-IO core: SAMP values, MTypes, the XML-RPC codec and the hub's router.

Nothing in this package touches a socket, an event loop, a clock, a thread or a
random source; adapters feed it requests and carry out the effects it returns.
"""
