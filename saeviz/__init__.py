"""saeviz: do sparse autoencoders trained on a language model still interpret it once it is compressed?

The package is headless: it never imports streamlit (the app in app.py/pages/ does).
"""

__version__ = "0.1.0"
