"""PAdES signing and validation with pyHanko: bytes in, bytes out; no database, no Flask."""
