"""docflow: paperless administration across the levels of a public organisation."""

import warnings

__version__ = "0.1.0"

# pyHanko 0.38 imports cryptography's DSA key type, deprecated from cryptography 51, and the
# warning would open every `docflow` command's output; docflow accepts no DSA keys anyway.
warnings.filterwarnings("ignore", message="DSA is deprecated", module=r"pyhanko\.")
