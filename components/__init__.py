"""gradient-keys: DigitalOcean Gradient AI model access keys as code."""

__version__ = "0.1.0"
