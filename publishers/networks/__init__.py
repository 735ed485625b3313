"""One small client per network, behind the interface of ``publishers.networks.base``."""
