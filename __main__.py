"""The gradient-keys Pulumi program: stays thin, the work lives in `components/`.

This version ships the DigitalOcean client and the sandbox; declaring keys in stack config needs
the key resource, which is not in this version. Rather than silently deploying nothing, a stack
that declares keys is refused with a message saying so.
"""

import pulumi

from components import __version__

config = pulumi.Config("gradient-keys")
if config.get_object("keys"):
    raise pulumi.RunError(
        f"gradient-keys {__version__} cannot manage keys from Pulumi yet: "
        "`gradient-keys:keys` must stay empty until the key resource ships"
    )
pulumi.export("gradient_keys_version", __version__)
