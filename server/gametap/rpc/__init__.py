"""gRPC: the daemon's services (gametap.v1) on a grpc.aio server."""
