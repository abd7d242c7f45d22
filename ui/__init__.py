"""Streamlit-only helpers shared by the pages (the saeviz package itself stays headless)."""
