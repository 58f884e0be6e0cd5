"""gametap: host an unmodified game as a live research environment."""
from gametap import grpc_engine

__version__ = "0.1.0"

grpc_engine.choose()  # before anything of gametap's imports grpcio
