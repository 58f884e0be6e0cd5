"""The control plane: the daemon process, its pool of workers, and systemd's notify protocol."""
