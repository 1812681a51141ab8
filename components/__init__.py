"""gradient-keys: DigitalOcean Gradient AI model access keys as code."""
