"""`python -m saeviz …`: argument parsing into specs (``options``) and one function per command; the
parser is built without importing torch, so ``--help`` is quick.

May import: everything in saeviz (it is the top floor with bench/ and embedded_build/); never ui/.
"""
