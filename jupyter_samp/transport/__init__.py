"""HTTP and XML-RPC plumbing shared by the hub and the client."""
