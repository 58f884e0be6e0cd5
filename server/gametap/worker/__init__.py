"""Workers: the processes that run matches' data planes (gametap.worker.process), the
daemon's pool of them (gametap.daemon.pool), and the control channel between the two
(gametap.worker.control)."""
